"""Wi-Fi: the meter joins only WPA2/WPA3 home networks (seed 001)."""
import pytest

from sumame.drivers.emulated.wifi_ap import EmulatedAccessPoint, EmulatedWifiStation
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.routes.broute.wifi_policy import WifiSecurityRefused, join_home_network
from sumame.hal.errors import CommsError
from sumame.hal.wifi import WifiSecurity, WifiStation


@pytest.fixture
def events():
    return EventLog(VirtualClock(1_750_000_000))


@pytest.mark.parametrize("security", [WifiSecurity.WPA2, WifiSecurity.WPA3])
def test_wpa2_and_wpa3_are_joined(security, events):
    station = EmulatedWifiStation([EmulatedAccessPoint("home", security, "correct horse")])
    assert isinstance(station, WifiStation)
    assert join_home_network(station, "home", "correct horse", events) == "127.0.0.2"
    assert station.associated.security is security and events.of_kind("wifi-joined")


@pytest.mark.parametrize("security", [WifiSecurity.OPEN, WifiSecurity.WEP, WifiSecurity.WPA])
def test_open_wep_wpa_are_refused_with_a_clear_message(security, events):
    station = EmulatedWifiStation([EmulatedAccessPoint("cafe", security, "pw")])
    with pytest.raises(WifiSecurityRefused) as info:
        join_home_network(station, "cafe", "pw", events)
    assert security.value.upper() in str(info.value) and "WPA2 or WPA3" in str(info.value)
    assert station.associated is None
    [event] = events.of_kind("wifi-refused")
    assert "WPA2 or WPA3" in event.detail


def test_strongest_acceptable_ap_of_an_ssid_is_chosen(events):
    weak = EmulatedAccessPoint("home", WifiSecurity.WPA, "pw", bssid="02:00:00:00:00:0a", rssi_dbm=-30)
    wpa3 = EmulatedAccessPoint("home", WifiSecurity.WPA3, "pw", bssid="02:00:00:00:00:0b", rssi_dbm=-70)
    station = EmulatedWifiStation([weak, wpa3])
    join_home_network(station, "home", "pw", events)
    assert station.associated.bssid == "02:00:00:00:00:0b"


def test_wrong_passphrase_missing_ssid_and_faults(events):
    ap = EmulatedAccessPoint("home", WifiSecurity.WPA2, "right")
    station = EmulatedWifiStation([ap])
    with pytest.raises(CommsError, match="wrong passphrase"):
        join_home_network(station, "home", "wrong", events)
    with pytest.raises(CommsError, match="not found"):
        join_home_network(station, "elsewhere", "right", events)
    ap.reject_all = True
    with pytest.raises(CommsError, match="refused"):
        join_home_network(station, "home", "right", events)
    ap.reject_all = False
    join_home_network(station, "home", "right", events)
    ap.down = True
    assert station.associated is None and station.address is None
