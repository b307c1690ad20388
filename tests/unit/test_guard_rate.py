"""Issue 9, defect 5: the B-route guard's token bucket refills at exactly ``rate_per_s`` and
holds at most ``burst`` (a 10x refill, or an uncapped bucket, must fail here)."""
import pytest

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.routes.broute.guard import GuardOptions, HomeSideGuard, Verdict

KEY = ("ip", "192.0.2.7")
T0 = 1_750_000_000.0


def guard(**options):
    g = HomeSideGuard(EventLog(VirtualClock(T0)), GuardOptions(**options))
    assert g.admit(KEY, T0) is not None
    return g


def accepted(g, start: float, seconds: float, per_s: float) -> int:
    n = int(seconds * per_s)
    return sum(g.check(KEY, start + i / per_s) is Verdict.ACCEPT for i in range(1, n + 1))


@pytest.mark.parametrize("rate", [0.5, 2.0, 5.0])
def test_sustained_rate_is_exactly_the_refill_rate(rate):
    g = guard(rate_per_s=rate, burst=4, dos_drops=10**9)
    while g.check(KEY, T0) is Verdict.ACCEPT:       # drain the burst
        pass
    got = accepted(g, T0, 60.0, per_s=50.0)          # far faster than allowed
    assert got == pytest.approx(60 * rate, abs=1)


def test_a_sender_at_the_allowed_rate_is_never_limited():
    g = guard(rate_per_s=2.0, burst=1)
    assert accepted(g, T0, 120.0, per_s=2.0) == 240
    assert g.counters["rate-limited"] == 0


def test_the_bucket_never_holds_more_than_burst():
    g = guard(rate_per_s=2.0, burst=20, dos_drops=10**9)
    later = T0 + 3600.0                               # an hour of idle refill
    back_to_back = sum(g.check(KEY, later) is Verdict.ACCEPT for _ in range(100))
    assert back_to_back == 20


def test_default_options_rate_limit_then_block_a_flood():
    g = guard()
    verdicts = [g.check(KEY, T0 + i * 0.01) for i in range(200)]     # 100 frames/s for 2 s
    assert 19 <= verdicts.count(Verdict.ACCEPT) <= 21       # the burst left after admission, ~no refill
    assert Verdict.BLOCKED in verdicts and g.counters["dos-detected"] == 1
