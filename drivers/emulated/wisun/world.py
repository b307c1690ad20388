"""Factory for the emulated route-B radio world: air + the meter's dongle + the HEMS's dongle.

``build_wisun_world()`` is what ``sumame emulate`` (and tests, the bench) call::

    world = build_wisun_world(personality="bp35c2", mode="fast", hems_link="/tmp/sumame-hems")
    world.start()                       # real-time runner thread serving the ptys
    print("endpoint hems-dongle", world.hems_path)
    meter = SkstackModem(world.meter_path)      # the meter firmware's driver, unchanged
    ...
    world.close()

The meter side opens ``world.meter_path`` (a pty) with ``drivers.skstack.SkstackModem`` exactly
as it would open ``/dev/ttyUSB0`` on a Raspberry Pi; HEMS software opens ``world.hems_path``.
With ``serve=False`` nothing runs in a thread: use ``InProcessPort(world.meter_dongle,
world.timeline)`` and a ``VirtualClock`` for deterministic tests.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from sumame.firmware.net.ieee802154 import pan_from_mac

from ..air import Air, AirConfig
from .dongle import EmulatedDongle
from .dongle_j11 import J11Dongle
from .dongle_serve import EmulationRunner, PtyEndpoint
from ..timeline import Timeline, WallClock


def meter_pan_defaults(mac_hex: str) -> tuple[int, int]:
    """(channel, PAN ID) a meter would pick (reference §6.2); see ieee802154.pan_from_mac."""
    return pan_from_mac(mac_hex)


@dataclass
class WisunWorld:
    timeline: Timeline
    air: Air
    meter_dongle: EmulatedDongle
    hems_dongle: EmulatedDongle | J11Dongle
    runner: EmulationRunner | None = None
    meter_endpoint: PtyEndpoint | None = None
    hems_endpoint: PtyEndpoint | None = None
    extra: list = field(default_factory=list)

    @property
    def meter_path(self) -> str:
        if self.meter_endpoint is None:
            raise RuntimeError("world built with serve=False: use InProcessPort")
        return self.meter_endpoint.path

    @property
    def hems_path(self) -> str:
        if self.hems_endpoint is None:
            raise RuntimeError("world built with serve=False: use InProcessPort")
        return self.hems_endpoint.path

    def headless_lines(self, rbid: str, password: str) -> list[str]:
        """What ``sumame emulate --headless`` prints for HEMS users (issue 4 item 6)."""
        return [f"endpoint hems-dongle {self.hems_path}", f"route-b-id {rbid}", f"route-b-password {password}"]

    def start(self) -> "WisunWorld":
        if self.runner is not None and self.runner._thread is None:
            self.runner.start()
        return self

    def close(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        for ep in (self.meter_endpoint, self.hems_endpoint):
            if ep is not None:
                ep.close()
        self.air.close()


METER_PERSONALITY = "bp35a1"
"""The meter's own dongle (PAN coordinator / PAA). Public evidence of a route-B dongle acting as
the meter side exists for the ROHM BP35A1 only (its manual's B-route tutorial and PAA commands,
reference/skstack-ip.md §4.2 and §9); for BP35C2 / RS-WSUHA-P / RL7023 no such evidence was
found, so the emulated meter uses a BP35A1."""


def build_wisun_world(*, personality: str = "bp35c2", meter_personality: str = METER_PERSONALITY,
                      mode: str = "fast", clock=None, seed: int | None = None,
                      meter_mac: str | None = None, hems_mac: str | None = None,
                      pcap_path: str | None = None, hub: tuple[str, int] | None = None,
                      serve: bool = True, meter_link: str | None = None,
                      hems_link: str | None = None, air_config: AirConfig | None = None,
                      flash_dir: str | None = None) -> WisunWorld:
    """Build the radio world.

    personality: the HEMS-side dongle ("bp35c2", "bp35a1", "rl7023-dss", "j11"); meter_personality:
    the meter's own dongle. mode: air "fast" | "accurate". clock: anything with ``now()``
    (default: the host wall clock; pass the emulation's RealClock to share its epoch/ratio).
    serve: put both dongles on ptys (symlinks ``meter_link`` / ``hems_link``) driven by a
    runner thread (call ``start()``). flash_dir: where each dongle keeps what a real one keeps in
    flash (MAC, WOPT, WUART, SKSAVE registers; ``<name>.flash.json``), so it survives a restart.
    Air mode "accurate" also gives both dongles the real-dongle timing (``dongle_timing.REAL``).
    """
    clock = clock or WallClock()
    timeline = Timeline(clock)
    config = air_config or AirConfig(mode=mode, seed=seed or 0)
    air = Air(timeline, config, pcap_path=pcap_path, hub=hub)
    base = None if seed is None else seed * 2
    flash = (lambda name: None) if flash_dir is None else (lambda name: os.path.join(flash_dir, f"{name}.flash.json"))
    meter = EmulatedDongle(air, timeline, personality=meter_personality, mac=meter_mac,
                           seed=base, name="meter-dongle", flash_path=flash("meter-dongle"))
    hems_seed = None if base is None else base + 1
    if personality == "j11":                 # the binary-UART dialect (dongle_j11), same air and stack
        hems = J11Dongle(air, timeline, mac=hems_mac, seed=hems_seed, name="hems-dongle",
                         flash_path=flash("hems-dongle-j11"))
    else:
        hems = EmulatedDongle(air, timeline, personality=personality, mac=hems_mac, seed=hems_seed,
                              name="hems-dongle", flash_path=flash(f"hems-dongle-{personality}"))
    world = WisunWorld(timeline, air, meter, hems)
    if serve:
        world.runner = EmulationRunner(timeline)
        world.meter_endpoint = PtyEndpoint(meter, meter_link)
        world.hems_endpoint = PtyEndpoint(hems, hems_link)
        world.runner.add(world.meter_endpoint)
        world.runner.add(world.hems_endpoint)
        if hub is not None:
            world.runner.add(air)
    return world
