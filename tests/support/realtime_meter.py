"""A real meter serving its A-route on loopback sockets, for tests with real peers.

``recorded_meter(tmp_path, hours=3)`` first runs the board in virtual time for ``hours`` (interval
data lands in the flash image in ``tmp_path``), then boots the same flash on the real clock with
its A-route on free TCP/UDP ports (B-route off) in a background thread (tools/emulate/meter_thread.py).
Use as a context manager; ``.tcp`` / ``.udp`` / ``.hdlc`` are (host, port).
"""
from __future__ import annotations

import contextlib

from sumame.tools.emulate.meter_thread import MeterThread, record_history

T0 = 1775055600.0          # 2026-04-02 00:00 JST


def _overrides(extra: dict | None) -> dict:
    base = {"broute": {"enabled": False},
            "aroute": {"port": 0, "hdlc_port": 0, "push_transport": "none"}}
    for section, values in (extra or {}).items():
        base.setdefault(section, {}).update(values)
    return base


class RunningMeter:
    def __init__(self, thread: MeterThread):
        self.thread = thread
        self.rt = thread.runtime
        eps = dict(thread.endpoints)

        def addr(name):
            if name not in eps:
                return None
            host, port = eps[name].rsplit(":", 1)
            return host.strip("[]"), int(port)
        self.tcp, self.udp, self.hdlc = addr("dlms-tcp"), addr("dlms-udp"), addr("dlms-hdlc-tcp")

    @property
    def meter(self):
        return self.rt.meter


@contextlib.contextmanager
def recorded_meter(state_dir, *, board: str = "emulated-lv", hours: float = 3.0, overrides: dict | None = None):
    overrides = _overrides(overrides)
    end = record_history(board, state_dir, start_epoch=T0, hours=hours, overrides=overrides) if hours else T0
    thread = MeterThread(board, overrides=overrides, state_dir=state_dir, start_epoch=end + 60)
    thread.start()
    thread.wait_for(lambda rt: rt.meter.switchgear.comms.routes_up().get("a-route"), what="A-route up")
    try:
        yield RunningMeter(thread)
    finally:
        thread.stop()
