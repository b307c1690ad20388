"""A-route building blocks: energy scaling, link conditions, persistent invocation counters, the
event rate limiter, keys, push spread."""
import pytest

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.net.dlms.axdr import DataType
from sumame.firmware.net.dlms.errors import ReplayError
from sumame.firmware.metrology.readings import RegisterScaling
from sumame.firmware.routes.aroute.counters import RX_KEY, PersistentReplayGuard, PersistentTxCounter
from sumame.firmware.routes.aroute.keys import derived_secrets, secrets_from_board
from sumame.firmware.routes.aroute.link import LinkConditions
from sumame.firmware.routes.aroute.push import spread_s
from sumame.firmware.routes.aroute.scaling import energy_scale
from sumame.firmware.routes.aroute.server import EventLimiter
from sumame.firmware.core.state import MemoryStateStore


class CountingStore(MemoryStateStore):
    def __init__(self):
        super().__init__()
        self.saves = 0

    def save(self, name, data):
        self.saves += 1
        super().save(name, data)


@pytest.mark.parametrize("unit,coef,mult,digits,factor,scaler,vtype", [
    (0.01, 1, 0, 8, 1, 1, DataType.DOUBLE_LONG_UNSIGNED),      # LV: 10 Wh per count
    (0.001, 240, 0, 8, 24, 1, DataType.DOUBLE_LONG_UNSIGNED),  # HV x240: 240 Wh per count
    (0.0001, 1, 0, 8, 1, -1, DataType.DOUBLE_LONG_UNSIGNED),   # 0.1 Wh per count
    (0.1, 6000, 0, 8, 6, 5, DataType.DOUBLE_LONG_UNSIGNED),    # 600 kWh per count
    (0.01, 999_999, 0, 8, 999_999, 1, DataType.LONG64_UNSIGNED),  # 1e8 x 999999 does not fit 32 bits
    (1.0, 240, 2, 6, 24, 2, DataType.DOUBLE_LONG_UNSIGNED),    # D4 multiplier 0.01
])
def test_energy_scale(unit, coef, mult, digits, factor, scaler, vtype):
    s = energy_scale(RegisterScaling(unit, 0, coef, mult, digits))
    assert (s.factor, s.scaler, s.value_type) == (factor, scaler, vtype)
    assert s.wh(s.value(3)) == pytest.approx(3 * unit * 1000 * coef * 10 ** -mult)


def test_interval_from_register_readings_rolls_over_and_none_is_no_data():
    s = energy_scale(RegisterScaling(0.01, 2, 1, 0, 8))
    assert s.interval(99_999_990, 5) == 15
    assert s.interval(None, 5) is None and s.interval(5, None) is None


def test_link_conditions_are_seeded_and_lose_about_their_share():
    a, b = LinkConditions(loss=0.3, seed=9), LinkConditions(loss=0.3, seed=9)
    seq_a = [a.datagram() for _ in range(2000)]
    assert seq_a == [b.datagram() for _ in range(2000)]
    assert 0.25 < seq_a.count(None) / 2000 < 0.35 and a.lost == seq_a.count(None)
    tcp = LinkConditions(latency_s=0.05, loss=0.5, rto_s=1.0, seed=3)
    delays = [tcp.stream() for _ in range(200)]
    assert min(delays) == pytest.approx(0.05) and max(delays) >= 1.05   # a loss costs a retransmission
    with pytest.raises(ValueError):
        LinkConditions(loss=1.0)


def test_tx_counter_never_repeats_a_value_across_reboots_and_writes_once_per_block():
    store = CountingStore()
    first = PersistentTxCounter(store, block=100)
    used = [first.next() for _ in range(250)]
    assert store.saves == 3                        # at 1, 101, 201
    after_reboot = PersistentTxCounter(store, block=100)
    assert after_reboot.next() > max(used)


def test_replay_guard_survives_a_reboot():
    store = MemoryStateStore()
    guard = PersistentReplayGuard(store)
    guard.accept(b"HES\x00\x00\x00\x00\x01", "glo", 41)
    again = PersistentReplayGuard(store)
    with pytest.raises(ReplayError):
        again.accept(b"HES\x00\x00\x00\x00\x01", "glo", 41)
    again.accept(b"HES\x00\x00\x00\x00\x01", "glo", 42)
    store.save(RX_KEY, b"{not json")
    assert PersistentReplayGuard(store).corrupt


def test_event_limiter_counts_what_it_does_not_log():
    clock = VirtualClock(0)
    events = EventLog(clock)
    limiter = EventLimiter(events, clock, burst=3, window_s=60)
    for i in range(10):
        limiter.record("dlms-bad-input", f"#{i}")
    assert [e.detail for e in events] == ["#0", "#1", "#2"] and limiter.suppressed["dlms-bad-input"] == 7
    clock.advance_to(61)
    limiter.record("dlms-bad-input", "#10")
    assert events.recent(1)[0].detail == "#10 (7 similar events not logged)"
    assert all(e.source == "a-route" for e in events)


def test_keys_from_the_board_or_derived():
    d = derived_secrets("SM1")
    assert len(d.system_title) == 8 and d.system_title[:3] == b"SUM" and len(d.ek) == len(d.ak) == 16
    assert d != derived_secrets("SM2")
    b = secrets_from_board("SM1", {"ek": "00" * 16, "lls_password": "secret"})
    assert b.ek == bytes(16) and b.ak == d.ak and b.lls_password == b"secret"


def test_push_spread_is_fixed_per_meter_and_inside_the_window():
    spreads = [spread_s(f"SM{i:04d}", 300) for i in range(200)]
    assert all(0 <= s < 300 for s in spreads) and len(set(spreads)) > 190
    assert spread_s("SM0001", 300) == spreads[1] and spread_s("x", 0) == 0
