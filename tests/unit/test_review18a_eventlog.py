"""Review: the event log's RAM ring (a bounded list) keeps the newest ``capacity`` events in
order, and recent(n) behaves as before for n past the length, 0 and after the wrap."""
from collections import deque

from sumame.firmware.core.events import EventLog


class _Clock:
    t = 0.0

    def now(self):
        return self.t


def test_ring_matches_a_bounded_deque():
    for capacity in (0, 1, 2, 7):
        clock = _Clock()
        log = EventLog(clock, capacity=capacity)
        ref = deque(maxlen=capacity)
        for i in range(25):
            clock.t = float(i)
            ref.append(log.record(f"k{i % 3}", source="t", detail=str(i)))
            assert list(log) == list(ref) and len(log) == len(ref)
            for n in (0, 1, 3, capacity, capacity + 5, 100):
                assert log.recent(n) == list(ref)[-n:]
        assert log.counts["k0"] == 9   # counts survive the wrap
        restored = EventLog(clock, capacity=capacity)
        for e in list(ref) * 3:
            restored.restore(e)
        assert list(restored) == (list(ref) * 3)[-capacity:] if capacity else list(restored) == []


def test_recent_is_a_copy():
    log = EventLog(_Clock(), capacity=3)
    log.record("a", source="t")
    got = log.recent()
    got.clear()
    assert len(log) == 1
