"""A meter thread on the real clock with an emulated Wi-SUN world (both dongles on ptys).

``wisun_meter(world_dir, board="emulated-lv", wisun=dict(personality=…, mode=…, seed=…, pcap=…),
**meter_thread_kwargs)``: starts the meter, waits for its PAN to be up, yields ``(meter, world)``
and stops both. ``start_wisun_meter`` is the same without the context (the caller stops them).
"""
from __future__ import annotations

import contextlib

from sumame.tools.emulate.meter_thread import MeterThread
from sumame.tools.emulate.wisun_setup import attach_emulated_wisun


def start_wisun_meter(world_dir, *, board: str = "emulated-lv", wisun: dict | None = None, **kw):
    worlds = []
    m = MeterThread(board, setup=lambda rt: worlds.append(attach_emulated_wisun(rt, world_dir, **(wisun or {}))),
                    **kw)
    m.start()
    m.wait_for_event("wisun-pan")
    return m, worlds[0]


@contextlib.contextmanager
def wisun_meter(world_dir, **kw):
    m, world = start_wisun_meter(world_dir, **kw)
    try:
        yield m, world
    finally:
        m.stop()
        world.close()
