"""Emulated metering parts: the ATM90E32 behind SPI (register level) and the HAL-level fleet ASIC."""
