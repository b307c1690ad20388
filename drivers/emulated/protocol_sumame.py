"""pyserial URL handler ``sumame://NAME``: an in-process emulated dongle behind a pyserial URL.

``register("meter", dongle, timeline)`` then ``serial.serial_for_url("sumame://meter")`` (or
``SkstackModem("sumame://meter")``) gives a port object like ``loop://`` does, wired to that
dongle (``InProcessPort`` semantics: reads run the emulated world until bytes arrive or the
timeout passes). Importing ``sumame.drivers.emulated.wisun.dongle_serve`` registers the scheme.
"""
from __future__ import annotations

from serial.serialutil import PortNotOpenError, SerialBase, SerialException

_REGISTRY: dict[str, tuple] = {}


def register(name: str, dongle, timeline) -> str:
    """Make ``dongle`` reachable as ``sumame://<name>``; returns the URL."""
    _REGISTRY[name] = (dongle, timeline)
    return f"sumame://{name}"


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


class Serial(SerialBase):
    """pyserial ``SerialBase`` over ``InProcessPort``."""

    def open(self):
        from .wisun.dongle_serve import InProcessPort
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        name = str(self._port).split("://", 1)[-1]
        if name not in _REGISTRY:
            raise SerialException(f"no emulated dongle registered as sumame://{name}")
        dongle, timeline = _REGISTRY[name]
        self._inner = InProcessPort(dongle, timeline, timeout=self._timeout if self._timeout is not None else 1.0)
        self.is_open = True

    def close(self):
        if self.is_open:
            self._inner.close()
        self.is_open = False

    def _reconfigure_port(self, force_update=False):
        pass

    def _inner_port(self):
        if not self.is_open:
            raise PortNotOpenError()
        self._inner.timeout = self._timeout if self._timeout is not None else 1.0
        return self._inner

    @property
    def in_waiting(self):
        return self._inner_port().in_waiting

    def read(self, size=1):
        return self._inner_port().read(size)

    def write(self, data):
        return self._inner_port().write(bytes(data))

    def reset_input_buffer(self):
        self._inner_port().reset_input_buffer()

    def reset_output_buffer(self):
        pass

    def flush(self):
        self._inner_port().flush()

    def fileno(self):
        raise OSError("sumame:// ports have no file descriptor; poll them")
