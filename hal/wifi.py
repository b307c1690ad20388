"""WifiStation: the meter's 2.4 GHz Wi-Fi client that joins the home network (LV B-route).

The station scans for access points, each declaring its security mode, and associates with
one given a passphrase. Policy (which modes are acceptable) is the firmware's business; the
station only reports what the access point offers and does what it is told.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol, runtime_checkable


class WifiSecurity(Enum):
    OPEN = "open"
    WEP = "wep"
    WPA = "wpa"          # WPA (TKIP), 2003
    WPA2 = "wpa2"        # WPA2 (CCMP/AES), PSK or 802.1X
    WPA3 = "wpa3"        # WPA3 (SAE)


@dataclass(frozen=True)
class AccessPointInfo:
    """A scanned access point: ssid, bssid ("aa:bb:cc:dd:ee:ff"), security, channel (1-13),
    rssi_dbm."""

    ssid: str
    bssid: str
    security: WifiSecurity
    channel: int
    rssi_dbm: int


@runtime_checkable
class WifiStation(Protocol):
    def scan(self) -> list[AccessPointInfo]:
        """Access points in range now."""
        ...

    def associate(self, ap: AccessPointInfo, passphrase: str) -> None:
        """Join ``ap``; raises CommsError if the access point refuses (wrong passphrase, gone)."""
        ...

    def disassociate(self) -> None: ...

    @property
    def associated(self) -> AccessPointInfo | None: ...

    @property
    def address(self) -> str | None:
        """The IP address obtained on the home network (None while not associated)."""
        ...

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address held on the home network (e.g. a DHCPv4 lease and IPv6 addresses),
        ``address`` first; () while not associated."""
        ...
