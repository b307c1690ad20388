"""The special-meter COSEM messages (terminal -> smart meter) and the MDMS settlement arithmetic."""
import pytest
from hypothesis import given, settings, strategies as st

from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot import special_cosem as sc
from sumame.tools.fuzz.targets import make
from sumame.tools.hes.settlement import add_delta, ensure_schema, flat_rows, settlement
from sumame.tools.hes.db.store import HesStore

MID = bytes.fromhex("02005e0a0b0c01")
T0 = 1775057400            # 2026-04-02 00:30 JST


def test_values_round_trip_keeps_no_data_as_null():
    v = sc.SpecialValues(MID, 3, 1, 0x027E, (sc.Slot(T0, 1_000_123, 45), sc.Slot(T0 + 1800, None, None)))
    raw = v.encode()
    back = sc.decode_values(raw)
    assert back.meter_id == MID and back.tolerance_class == 3 and back.device_class == 0x027E
    assert back.slots[0] == sc.Slot(T0, 1_000_123, 45, 0)
    assert back.slots[1].forward_wh is None and back.slots[1].status & sc.STATUS_NO_DATA
    buffer = axdr.decode(raw).value[4].value
    assert buffer[1].value[1].type is axdr.DataType.NULL          # no data is null-data, never 0


def test_event_round_trip():
    e = sc.SpecialEvent(MID, T0, sc.EV_ID_MISMATCH, "meter reports 0102")
    assert sc.decode_event(e.encode()) == e


@pytest.mark.parametrize("mutate, why", [
    (lambda v: sc.SpecialValues(MID[:6], 3, 1, 0x027E, v.slots), "7"),
    (lambda v: sc.SpecialValues(MID, 9, 1, 0x027E, v.slots), "tolerance"),
    (lambda v: sc.SpecialValues(MID, 3, 7, 0x027E, v.slots), "sync"),
    (lambda v: sc.SpecialValues(MID, 3, 1, 0x0288, v.slots), "device class"),
    (lambda v: sc.SpecialValues(MID, 3, 1, 0x027E, (sc.Slot(T0 + 60, 1, 1),)), "boundary"),
    (lambda v: sc.SpecialValues(MID, 3, 1, 0x027E, (sc.Slot(T0, 1, 1), sc.Slot(T0, 2, 2))), "repeats"),
])
def test_malformed_values_are_refused_with_a_reason(mutate, why):
    v = sc.SpecialValues(MID, 3, 1, 0x027E, (sc.Slot(T0, 1, 1),))
    with pytest.raises(c.IotCodecError, match=why):
        sc.decode_values(mutate(v).encode())


def test_wrong_shapes_are_typed_errors():
    for raw in (b"", b"\x02", axdr.encode(axdr.unsigned(1)), axdr.encode(axdr.structure(axdr.unsigned(1))),
                axdr.encode(axdr.array([axdr.unsigned(1)] * 5))):
        with pytest.raises(c.IotCodecError):
            sc.decode_values(raw)
    with pytest.raises(c.IotCodecError, match="at most 48"):
        sc.decode_values(axdr.encode(axdr.structure(axdr.octet_string(MID), axdr.unsigned(3), axdr.unsigned(1),
                                                    axdr.long_unsigned(0x027E), axdr.array([axdr.null()] * 49))))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_a_value_or_a_typed_error(data):
    target = make("iot-special")
    try:
        target.run(data)
    except target.allowed:
        pass


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.integers(0, 200))
def test_mutated_seeds_give_a_value_or_a_typed_error(noise, at):
    target = make("iot-special")
    for seed in target.seeds():
        data = seed[:at] + noise + seed[at + len(noise):]
        try:
            target.run(data)
        except target.allowed:
            pass


# ---------------------------------------------------------------- settlement arithmetic
def _store():
    store = HesStore(":memory:")
    ensure_schema(store.db)
    store.db.execute("INSERT INTO special_meters VALUES ('EV1','m1','T1',638,3,1,0)")
    store.db.execute("INSERT INTO special_meters VALUES ('PV1','m1','T2',633,5,1,0)")
    return store


def _reg(store, sid, t, fwd, rev):
    store.db.execute("INSERT INTO special_registers VALUES (?,?,?,?,0,0)", (sid, float(t), fwd, rev))


def test_y_is_x_minus_sum_a_with_reverse_flow_and_no_data():
    store = _store()
    for k, (fwd, rev) in enumerate([(500.0, 0.0), (0.0, 900.0), (300.0, 0.0)]):
        store.put_interval("m1", 30, T0 + 1800 * (k + 1), {"forward_wh": fwd, "reverse_wh": rev},
                           received_at=0, source="push", deadline_s=3600)
    # EV: +1500 Wh charging in slot 1, 0 in slot 2; PV: 1200 Wh output in slot 2 (reverse), no data after
    _reg(store, "EV1", T0, 1000, 50)
    _reg(store, "EV1", T0 + 1800, 1400, 50)
    _reg(store, "EV1", T0 + 3600, 1400, 50)
    _reg(store, "EV1", T0 + 5400, 1500, 50)
    _reg(store, "PV1", T0, 10, 7000)
    _reg(store, "PV1", T0 + 1800, 10, 7000)
    _reg(store, "PV1", T0 + 3600, 10, 8200)
    _reg(store, "PV1", T0 + 5400, None, None)
    rows = {r["end_at"]: r for r in settlement(store)}
    r1, r2, r3 = rows[T0 + 1800], rows[T0 + 3600], rows[T0 + 5400]
    assert (r1["x_kwh"], r1["a_kwh"], r1["sum_a_kwh"], r1["y_kwh"]) == (0.5, {"EV1": 0.4, "PV1": 0.0}, 0.4, 0.1)
    assert (r2["x_kwh"], r2["a_kwh"]["PV1"], r2["sum_a_kwh"], r2["y_kwh"]) == (-0.9, -1.2, -1.2, 0.3)
    assert r3["a_kwh"] == {"EV1": 0.1, "PV1": None} and r3["sum_a_kwh"] is None and r3["y_kwh"] is None
    cols, flat = flat_rows(list(rows.values()))
    assert cols == ["meter", "interval_end_jst", "x_kwh", "A_EV1_kwh", "A_PV1_kwh", "sum_a_kwh", "y_kwh"]


def test_register_rollover_and_dr_variant():
    store = _store()
    store.put_interval("m1", 30, T0 + 1800, {"forward_wh": 2000.0, "reverse_wh": 0.0}, received_at=0,
                       source="push", deadline_s=3600)
    _reg(store, "EV1", T0, 999_999_500, 0)
    _reg(store, "EV1", T0 + 1800, 700, 0)                 # 9 digits rolled over: +1200 Wh
    _reg(store, "PV1", T0, 0, 0)
    _reg(store, "PV1", T0 + 1800, 0, 0)
    add_delta(store, "EV1", T0 + 1800, 300.0)             # the DR event curbed 0.3 kWh of charging
    r = settlement(store)[0]
    assert r["a_kwh"]["EV1"] == 1.2 and r["y_kwh"] == 0.8
    assert r["x_minus_delta_kwh"] == 1.7 and r["a_minus_delta_kwh"] == {"EV1": 0.9}
