"""Metrology: metering from the ASIC, interval registers, readings, ASIC supervision."""
