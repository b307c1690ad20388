"""A real meter serving its A-route on loopback sockets, for tests with real peers.

``recorded_meter(tmp_path, hours=3)`` first runs the board in virtual time for ``hours`` (interval
data lands in the flash image in ``tmp_path``), shuts it down, then boots the same flash on the
real clock with its A-route on free TCP/UDP ports (B-route off) and runs its scheduler in a
background thread. Use as a context manager; ``.tcp`` / ``.udp`` / ``.hdlc`` are (host, port).
"""
from __future__ import annotations

import contextlib
import threading

from sumame.tools.runtime import build_runtime, open_board

T0 = 1775055600.0          # 2026-04-02 00:00 JST


def _overrides(extra: dict | None) -> dict:
    base = {"broute": {"enabled": False},
            "aroute": {"port": 0, "hdlc_port": 0, "push_transport": "none"}}
    for section, values in (extra or {}).items():
        base.setdefault(section, {}).update(values)
    return base


class RunningMeter:
    def __init__(self, rt):
        self.rt = rt
        self.thread = threading.Thread(target=rt.scheduler.run, name="meter", daemon=True)
        eps = dict(rt.meter.endpoints)

        def addr(name):
            if name not in eps:
                return None
            host, port = eps[name].rsplit(":", 1)
            return host.strip("[]"), int(port)
        self.tcp, self.udp, self.hdlc = addr("dlms-tcp"), addr("dlms-udp"), addr("dlms-hdlc-tcp")

    @property
    def meter(self):
        return self.rt.meter

    def stop(self) -> None:
        self.rt.scheduler.stop()
        self.thread.join(10)
        self.rt.meter.shutdown()
        self.rt.close()


def _wait_for_comms(rt, limit_s: float = 10.0) -> None:
    comms = rt.meter.switchgear.comms
    deadline = rt.clock.now() + limit_s
    while not comms.routes_up().get("a-route") and rt.clock.now() < deadline:
        rt.scheduler.run(until=rt.clock.now() + 0.05)


@contextlib.contextmanager
def recorded_meter(state_dir, *, board: str = "emulated-lv", hours: float = 3.0, overrides: dict | None = None):
    b = open_board(board, _overrides(overrides))
    if hours:
        warm = build_runtime(b, virtual=True, start_epoch=T0, state_dir=state_dir, poll_interval_s=60.0)
        warm.scheduler.run(until=T0 + hours * 3600)
        warm.meter.shutdown()
        warm.close()
    rt = build_runtime(b, virtual=False, start_epoch=T0 + hours * 3600 + 60, state_dir=state_dir,
                       poll_interval_s=1.0, strict=False)
    _wait_for_comms(rt)
    running = RunningMeter(rt)
    running.thread.start()
    try:
        yield running
    finally:
        running.stop()
