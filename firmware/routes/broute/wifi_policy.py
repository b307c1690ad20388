"""Wi-Fi join policy of the LV B-route (seed 001): only WPA2 or WPA3 home networks.

Open, WEP and WPA networks are refused before any association attempt, with a message that
says why; the refusal is recorded in the event log (security).
"""
from __future__ import annotations

from sumame.firmware.core.events import Severity
from sumame.hal.errors import CommsError
from sumame.hal.wifi import WifiSecurity

ACCEPTED = frozenset({WifiSecurity.WPA2, WifiSecurity.WPA3})


class WifiSecurityRefused(CommsError):
    """The home network's security mode is below WPA2."""


def join_home_network(station, ssid: str, passphrase: str, events) -> str:
    """Associate with ``ssid`` if it uses WPA2/WPA3; returns the meter's address on it.

    Raises WifiSecurityRefused (weak security), CommsError (not found / association failed).
    When several access points carry the SSID, the strongest acceptable one is chosen.
    """
    candidates = [ap for ap in station.scan() if ap.ssid == ssid]
    if not candidates:
        raise CommsError(f"Wi-Fi network {ssid!r} not found")
    good = [ap for ap in candidates if ap.security in ACCEPTED]
    if not good:
        modes = ", ".join(sorted({ap.security.value.upper() for ap in candidates}))
        message = (f"Wi-Fi network {ssid!r} uses {modes}: the meter joins only WPA2 or WPA3 "
                   f"networks (open, WEP and WPA are refused)")
        events.record("wifi-refused", source="b-route-wifi", detail=message,
                      severity=Severity.WARNING)
        raise WifiSecurityRefused(message)
    ap = max(good, key=lambda a: (a.security is WifiSecurity.WPA3, a.rssi_dbm))
    station.associate(ap, passphrase)
    events.record("wifi-joined", source="b-route-wifi",
                  detail=f"joined {ssid!r} ({ap.security.value.upper()}, {ap.bssid})")
    return station.address
