"""Opening a dongle's serial port: one place for the errors a port can raise and the message.

``open_port(port, what=…)`` takes a device path or pyserial URL (``/dev/ttyUSB0``,
``sumame://…``) and returns an open ``serial.Serial``-like object; an already open serial-like
object is returned as it is. ``read_timeout_s`` is pyserial's read timeout (s).
"""
from __future__ import annotations

import serial

from sumame.hal.errors import DeviceNotFound

try:
    import termios
    PORT_ERRORS: tuple = (serial.SerialException, OSError, termios.error)
except ImportError:  # pragma: no cover - non-POSIX
    PORT_ERRORS = (serial.SerialException, OSError)


def open_port(port, *, baudrate: int = 115200, read_timeout_s: float = 0.05, what: str = "dongle"):
    """The open port; ``DeviceNotFound("cannot open <what> <port>: …")`` if it cannot be opened."""
    if not isinstance(port, str):
        return port
    try:
        return serial.serial_for_url(port, baudrate=baudrate, timeout=read_timeout_s)
    except PORT_ERRORS as exc:
        raise DeviceNotFound(f"cannot open {what} {port}: {exc}") from exc
