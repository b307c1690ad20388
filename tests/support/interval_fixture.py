"""Golden record of what a full-fidelity LV meter stores, for speed work that must not change it.

``python -m sumame.tests.support.interval_fixture`` (or ``python tests/support/interval_fixture.py``)
runs each scenario on the emulated-lv board in virtual time and writes, per scenario, SHA-256
digests of every register snapshot (all grids: the interval values are their differences), of
every journal record payload, of the whole NOR-flash image and of the event log, plus a few
readable values. The code flash holds a fixed payload (not this build), so the record does not
depend on the source text. ``tests/fixtures/lv_intervals.json`` was produced this way from the
code of main at dc4276d, before the speed-ups of issue 15 (``git archive dc4276d`` unpacked as
``/tmp/base/sumame``, then ``PYTHONPATH=/tmp/base python tests/support/interval_fixture.py``).
Regenerated once since, when issue 11 added the ``extlog`` partition (external-connection log,
placed after the others): before regenerating, every snapshot, session and the records of every
pre-existing partition were checked equal to the dc4276d record; only ``extlog`` and the whole-image
digest were new; and once more when A-route pushes were turned off in the scenarios (they went to
a fixed loopback port another test could hold): snapshots, sessions and every interval partition
checked equal first (the event log and the push bookkeeping in ``state`` differ, as they must).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "lv_intervals.json"
HOUR = 3600.0

SCENARIOS = {
    # the scale-meter bench's run: energy and instantaneous values read once a minute
    "bench-2d-poll60": dict(days=2.0, poll_interval_s=60, outages=()),
    # the board's own polling (1 s), across a 25-minute outage that starts mid-interval
    "board-3h-outage": dict(days=3 / 24, poll_interval_s=None, outages=((1 * HOUR + 7 * 60 + 13, 25 * 60),)),
}


def _digest(items) -> str:
    h = hashlib.sha256()
    for item in items:
        h.update(len(item).to_bytes(4, "big"))
        h.update(item)
    return h.hexdigest()


def run(name: str) -> dict:
    from sumame.hal.jst import parse_jst
    from sumame.tools.emulate.runtime import build_runtime

    sc = SCENARIOS[name]
    start = parse_jst("2026-04-01T00:00")
    with _pinned_firmware_image():
        return _run(sc, start, build_runtime)


@contextlib.contextmanager
def _pinned_firmware_image():
    """The code flash holds a fixed payload instead of this build's bundle: the boot event names
    the image's SHA-256, which changes with every source edit (this record is about data)."""
    from sumame.tools import firmware_image

    bundle, programmed = firmware_image.bundle, dict(firmware_image._PROGRAMMED)
    firmware_image.bundle = lambda target: b"sumame interval fixture payload for " + target.encode()
    firmware_image._PROGRAMMED.clear()
    firmware_image.release_image.cache_clear()     # an earlier test in this process signed this build
    try:
        yield
    finally:
        firmware_image.bundle = bundle
        firmware_image.release_image.cache_clear()
        firmware_image._PROGRAMMED.clear()
        firmware_image._PROGRAMMED.update(programmed)


def _run(sc: dict, start: float, build_runtime) -> dict:
    from sumame.boards import load_board

    # pushes off: the board's head-end address is a fixed loopback port that another test (or a
    # running emulator) may hold, which would change the events this record digests
    board = load_board("emulated-lv", {"aroute": {"push_transport": "none"}})
    rt = build_runtime(board, virtual=True, start_epoch=start, poll_interval_s=sc["poll_interval_s"])
    # the watchdog measures wall time: on a busy machine a slow step would log a "watchdog"
    # event (and write it to flash), so the record would depend on the load, not the code
    rt.scheduler.watchdog_budget_s = None
    for offset, duration in sc["outages"]:
        rt.mains.schedule_outage(start + offset, duration)
    rt.scheduler.run(until=start + sc["days"] * 86400)
    meter = rt.meter
    snaps = meter.registers.snapshots()
    journals = {n: [r.payload for r in j.records_in_ram()] for n, j in sorted(meter.storage.journals.items())}
    events = [f"{e.at!r} {e.kind} {e.source} {e.detail}".encode() for e in meter.events]
    out = {
        "snapshots": len(snaps),
        "snapshots_sha256": _digest([s.pack() for s in snaps]),
        "journal_records": {n: len(p) for n, p in journals.items()},
        "journal_sha256": {n: _digest(p) for n, p in journals.items()},
        "flash_sha256": hashlib.sha256(rt.built.emulated["flash"].image()).hexdigest(),
        "events": len(events),
        "events_sha256": _digest(events),
        "last_snapshot": [getattr(snaps[-1], f) for f in snaps[-1].__slots__],
        "sessions": sorted({s.session for s in snaps}),
    }
    rt.close()
    return out


def main() -> None:
    data = {name: run(name) for name in SCENARIOS}
    FIXTURE.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {FIXTURE}", file=sys.stderr)


if __name__ == "__main__":
    main()
