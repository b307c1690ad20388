"""Deployment on a Raspberry Pi: ``sumame flash`` (service unit, udev rule, user, SPI)."""
