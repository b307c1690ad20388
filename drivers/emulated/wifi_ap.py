"""Emulated home access point(s) and the meter's emulated Wi-Fi station (hal.wifi contract).

``EmulatedAccessPoint`` declares its SSID, security mode, passphrase and the address it leases
to the meter (loopback by default, so the IP B-route really serves there). Fault injection:
``down`` (AP switched off) and ``reject_all`` (refuses every association).
"""
from __future__ import annotations

from dataclasses import dataclass

from sumame.hal.errors import CommsError
from sumame.hal.wifi import AccessPointInfo, WifiSecurity


@dataclass
class EmulatedAccessPoint:
    ssid: str
    security: WifiSecurity
    passphrase: str = ""
    bssid: str = "02:00:00:00:00:01"
    channel: int = 6
    rssi_dbm: int = -55
    lease_address: str = "127.0.0.2"
    extra_addresses: tuple[str, ...] = ()   # further addresses the station gets (IPv6 SLAAC, aliases)
    down: bool = False
    reject_all: bool = False

    @property
    def info(self) -> AccessPointInfo:
        return AccessPointInfo(self.ssid, self.bssid, self.security, self.channel, self.rssi_dbm)


class EmulatedWifiStation:
    """The meter's Wi-Fi module, in range of ``access_points``."""

    def __init__(self, access_points):
        self.access_points = list(access_points)
        self._joined: EmulatedAccessPoint | None = None

    def _find(self, info: AccessPointInfo) -> EmulatedAccessPoint | None:
        for ap in self.access_points:
            if ap.bssid == info.bssid and not ap.down:
                return ap
        return None

    def scan(self) -> list[AccessPointInfo]:
        return [ap.info for ap in self.access_points if not ap.down]

    def associate(self, ap: AccessPointInfo, passphrase: str) -> None:
        target = self._find(ap)
        if target is None:
            raise CommsError(f"access point {ap.ssid!r} ({ap.bssid}) is not in range")
        if target.reject_all:
            raise CommsError(f"access point {ap.ssid!r} refused the association")
        if target.security is not WifiSecurity.OPEN and passphrase != target.passphrase:
            raise CommsError(f"access point {ap.ssid!r}: authentication failed (wrong passphrase)")
        self._joined = target

    def disassociate(self) -> None:
        self._joined = None

    @property
    def associated(self) -> AccessPointInfo | None:
        return None if self._joined is None or self._joined.down else self._joined.info

    @property
    def address(self) -> str | None:
        return None if self.associated is None else self._joined.lease_address

    @property
    def addresses(self) -> tuple[str, ...]:
        if self.associated is None:
            return ()
        return (self._joined.lease_address, *self._joined.extra_addresses)
