"""Emulated USB: the host's port, devices (dongles, comms unit) and the libusb-like backend."""
