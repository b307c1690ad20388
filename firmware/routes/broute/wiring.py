"""The B-route as a meter service: ECHONET Lite node on the media the comms unit provides.

The node and its home-side guard start with the meter; the IP transport opens when a comms unit
with Wi-Fi (LV) or Ethernet (HV) is inserted and closes when it is removed. Wi-Fi joins the home
network only with WPA2/WPA3 (``wifi_policy``). Board section ``[broute]``.
"""
from __future__ import annotations

from dataclasses import replace

from sumame.firmware.core.events import Severity
from sumame.hal.comms import Medium
from sumame.hal.errors import CommsError

from sumame.firmware.lifecycle.credentials import route_b_credentials

from .guard import GuardOptions
from .objects import DeviceFacts
from .service import BRouteOptions, BRouteService
from .wifi_policy import join_home_network
from .wisun import WisunBRoute


def options_from_board(section: dict, seed: int) -> BRouteOptions:
    guard = GuardOptions(max_clients=section.get("max_clients", 3),
                         rate_per_s=section.get("rate_per_s", 2.0),
                         burst=section.get("burst", 20.0))
    return BRouteOptions(ip_addresses=tuple(section.get("ip", ("127.0.0.1",))),
                         port=section.get("port", 3610), multicast=section.get("multicast", False),
                         announce=section.get("announce", "inf"),
                         announce_delay_s=section.get("announce_delay_s", 20.0), seed=seed, guard=guard,
                         property_set=section.get("property_set", "full"),
                         facts=DeviceFacts(product_code=section.get("product_code", ""),
                                           production_date=section.get("production_date", "2024-04-01"),
                                           facility_code=section.get("facility_code", 0)))


class BRouteApp:
    """Owns the BRouteService of one meter; follows comms-unit insertion and removal."""

    name = "b-route"

    def __init__(self, meter, switchgear):
        self.meter = meter
        section = meter.config.options.get("broute", {})
        self.options = options_from_board(section, seed=int(meter.clock.now()) & 0xFFFF)
        in_force = (lambda: route_b_credentials(meter)[0]) if getattr(meter, "storage", None) is not None else None
        self.service = BRouteService(meter.readings, meter.events, meter.scheduler, meter.clock,
                                     replace(self.options, ip_addresses=(), route_b_id=in_force))
        self.service.frame_filter = meter.hw.extras.get("broute_filter")
        self.switchgear = switchgear
        self.serve_ip = section.get("serve_ip", True)
        self.inproc = None
        self.wisun_factory = meter.hw.extras.get("wisun_modem")
        """Opens the meter's route-B dongle (a RadioModem); None when the board has none."""
        self.wisun: WisunBRoute | None = None
        """False in virtual-time runs: no real sockets (tests attach an in-process medium)."""
        self.wifi = meter.hw.extras.get("wifi")
        wifi = meter.config.options.get("wifi", {})
        self.wifi_ssid = wifi.get("ssid", "")
        self.wifi_passphrase = wifi.get("passphrase", "")

    @property
    def endpoints(self) -> list[tuple[str, str]]:
        return [("echonet-udp", _udp(host, port)) for host, port in self.service.endpoints]

    def start(self) -> None:
        self.service.start()
        self.switchgear.comms.register_route(self.name, {Medium.WIFI, Medium.ETHERNET},
                                             self._unit_up, self._unit_down)
        if self.wisun_factory is not None:
            self.switchgear.comms.register_route(f"{self.name}-wisun", {Medium.WISUN},
                                                 self._wisun_up, self._wisun_down)

    def stop(self) -> None:
        self._wisun_down(None)
        self.service.stop()

    def _wisun_up(self, unit) -> None:
        if self.wisun is None:
            rbid, password = route_b_credentials(self.meter)   # renewed pair, else the board's
            w = self.meter.config.options.get("wisun", {})
            self.wisun = WisunBRoute(self.service, self.meter.events, self.meter.scheduler, self.meter.clock,
                                     self.wisun_factory, rbid=rbid, password=password,
                                     channel=w.get("channel") or None,
                                     pan_id=None if w.get("pan_id", -1) < 0 else w["pan_id"],
                                     lifetime_s=w.get("lifetime_s", 86400))
            self.wisun.start()

    def restart_wisun(self) -> None:
        """New route-B credentials: end the PAN made with the old ones and start again."""
        if self.wisun is not None:
            self._wisun_down(None)
            self._wisun_up(None)

    def _wisun_down(self, unit) -> None:
        if self.wisun is not None:
            self.wisun.stop()
            self.wisun = None

    def _unit_up(self, unit) -> None:
        media = unit.descriptor.media
        addresses = self.options.ip_addresses
        if Medium.WIFI in media and Medium.ETHERNET not in media and self.wifi is not None:
            try:
                address = join_home_network(self.wifi, self.wifi_ssid, self.wifi_passphrase,
                                            self.meter.events)
                addresses = tuple(self.wifi.addresses) or (address,)   # IPv4 lease + IPv6
            except CommsError as exc:
                self.meter.events.record("b-route-wifi", source="b-route", severity=Severity.WARNING,
                                         detail=f"Wi-Fi B-route not available: {exc}")
                return
        if not self.serve_ip:  # virtual time: the in-process medium stands for the IP network
            from .inprocess import InProcessMedium
            if self.inproc is None:
                self.inproc = InProcessMedium(self.service, self.meter.scheduler)
            self.inproc.available = True
            self.service.announce_instance_list()
            return
        try:
            self.service.open_ip(addresses)
        except OSError as exc:
            self.meter.events.record("b-route-ip", source="b-route", severity=Severity.ALARM,
                                     detail=f"cannot serve UDP {self.options.port} on "
                                            f"{', '.join(addresses)}: {exc.strerror or exc}")
            return
        self.service.announce_instance_list()

    def _unit_down(self, unit) -> None:
        self.service.close_ip()
        if self.inproc is not None:
            self.inproc.available = False


def _udp(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
