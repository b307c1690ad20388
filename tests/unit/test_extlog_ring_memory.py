"""The external-connection log's RAM ring holds 4000 entries per meter (board default), and a
fleet meter fills it in weeks (every push and poll is a frame): each entry is kept in ~15 bytes
of flat arrays (time, size, flags, a 2-byte number of the peer's name), not an 8-byte reference
per entry beside them (~21 bytes). Names are reused numbers once their entries have left."""
import gc
import tracemalloc

from sumame.firmware.security.extlog import Direction, Entry, EntryRing, Verdict

PEERS = ["ip:127.0.0.1:4059", "inproc:hes", "wi-sun:fe80::1"]


def _bytes_per_entry(n: int) -> float:
    entries = [Entry(1.0 * i, PEERS[i % 3], Direction(i % 2), 100 + i % 50, Verdict.SENT) for i in range(n)]
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        ring = EntryRing(n)
        ring.extend(entries)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert list(ring) == entries
    return held / n


def test_a_full_ring_costs_at_most_16_bytes_an_entry():
    assert _bytes_per_entry(4000) <= 16.5     # was ~21.5 with a list of name references


def test_name_numbers_are_reused_and_reads_stay_exact():
    ring = EntryRing(3)
    written = []
    for i in range(50):
        e = Entry(float(i), f"ip:10.0.0.{i}", Direction.IN, i, Verdict.UNKNOWN_PEER)
        ring.append(e)
        written.append(e)
        assert list(ring) == written[-3:]
    assert len(ring._name_of) <= 4 and len(ring._names) == 3
