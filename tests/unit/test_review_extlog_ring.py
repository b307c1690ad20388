"""Independent review of the extlog RAM ring (flat arrays): it must behave as the bounded deque it
replaced, including what it keeps alive once entries have left the ring."""
from __future__ import annotations

import gc
import tracemalloc
from collections import deque

from hypothesis import given, settings, strategies as st

from sumame.firmware.security.extlog import Direction, Entry, EntryRing, ExternalLog, Verdict, unpack_batch

_entry = st.builds(
    Entry,
    st.floats(min_value=0, max_value=4e9, allow_nan=False),
    st.sampled_from(["ip:192.168.1.20", "wi-sun:fe80::1", "iot:GAS00001", "inproc:hems", "ip:10.0.0.9"]),
    st.sampled_from(list(Direction)),
    st.integers(min_value=0, max_value=0xFFFFFFFF),
    st.sampled_from(list(Verdict)),
)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=9), st.lists(_entry, max_size=40))
def test_ring_is_a_bounded_deque_at_every_step(maxlen, entries):
    ring, ref = EntryRing(maxlen), deque(maxlen=maxlen)
    for e in entries:
        ring.append(e)
        ref.append(e)
        assert list(ring) == list(ref)
        assert [ring[k] for k in range(-len(ref), len(ref))] == [ref[k] for k in range(-len(ref), len(ref))]


def test_peers_that_left_the_ring_are_not_kept_alive():
    """A flood from ever new source addresses (bad input from any port) must not grow memory
    without bound: once an entry is overwritten nothing of its peer name may stay behind
    (the deque freed it). 20,000 distinct peers through a 16-entry ring."""
    ring = EntryRing(16)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(20_000):
            ring.append(Entry(1.0 * i, f"wi-sun:fe80::{i:x}:{i * 7 % 65536:x}", Direction.IN, 60,
                              Verdict.UNKNOWN_PEER))
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(ring) == 16 and ring[-1].peer == f"wi-sun:fe80::{19_999:x}:{19_999 * 7 % 65536:x}"
    assert grown < 64 * 1024, f"{grown} bytes still held for a 16-entry ring"


class _Storage:
    def __init__(self):
        self.batches = []

    def append_extlog(self, payload):
        self.batches.append(payload)
        return object()


def test_reboot_restores_the_newest_entries_in_order_after_overflow():
    """Flash batches read back at boot (restore) overflow a small ring: the newest stay, in order,
    and range reads by index match a deque of the same entries."""
    storage = _Storage()
    log = ExternalLog(storage, ram_entries=50, flush_entries=7)
    written = [Entry(1775055600.0 + i, f"ip:10.0.{i % 3}.{i % 7}", Direction(i % 2), i * 13, Verdict(i % 11))
               for i in range(333)]
    for e in written:
        log.append(e)
    log.flush()
    assert list(log.entries) == written[-50:]
    rebooted = ExternalLog(storage, ram_entries=50, flush_entries=7)
    rebooted.restore(storage.batches)
    on_flash = [e for b in storage.batches for e in unpack_batch(b)]
    assert len(on_flash) == 333 and rebooted.restored == 333
    assert list(rebooted.entries) == on_flash[-50:]
    assert [e.at for e in rebooted.entries] == [e.at for e in written[-50:]]
