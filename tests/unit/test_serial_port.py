"""A dongle path that cannot be opened is one clear DeviceNotFound line, for both dialects."""
import pytest

from sumame.drivers.j11 import J11Modem
from sumame.drivers.serial_port import open_port
from sumame.drivers.skstack import SkstackModem
from sumame.hal.errors import DeviceNotFound


@pytest.mark.parametrize("modem, what", [(SkstackModem, "Wi-SUN dongle"), (J11Modem, "J11 dongle")])
def test_a_missing_port_is_device_not_found_naming_the_port(tmp_path, modem, what):
    missing = str(tmp_path / "ttyUSB9")
    with pytest.raises(DeviceNotFound, match=f"^cannot open {what} {missing}: "):
        modem(missing)


def test_an_open_serial_like_object_is_used_as_it_is():
    port = object()
    assert open_port(port) is port
