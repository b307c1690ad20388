"""Regression: at epoch-second magnitudes the thermal heat could stall a hair below 1.0, the
predicted trip came ~1e-7 s later, which the float clock cannot represent, and the breaker task
spun forever at one instant of virtual time (found by the A-route fleet run)."""
from sumame.firmware.switchgear.trip_curve import ThermalAccumulator, TripCurve

T = 1775211700.0


def test_a_trip_due_within_float_resolution_happens_now():
    acc = ThermalAccumulator(TripCurve())
    ratio = 1.375
    acc.add(T, ratio)
    tripped = False
    t = T
    for _ in range(100_000):
        wait = acc.time_to_trip_s()
        assert t + max(wait, 1e-3) > t          # every planned wake moves the clock
        t = t + max(min(wait, 0.2), 1e-3)
        if acc.add(t, ratio):
            tripped = True
            break
    assert tripped
    assert t - T < TripCurve().trip_time_s(ratio) + 0.5


def test_stalled_heat_counts_as_tripped():
    acc = ThermalAccumulator(TripCurve())
    acc.add(T, 1.375)
    acc.heat = 0.9999999929806258          # the value seen in the hang
    assert acc.add(T + 2.4e-7, 1.375)
