"""The A-route of the real meter (build_runtime, virtual time, in-process network): COSEM model,
access rules, actuation, persistence of the invocation counters, and bad input."""
import pytest
from aroute_helpers import T0, head_end, meter, network, open_session, run, settings

from sumame.firmware.switchgear.breaker import BreakerMode
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.client import AssociationRefused
from sumame.firmware.net.dlms.cosem.profile import SELECTOR_ENTRY
from sumame.firmware.net.dlms.cosem_time import octets_to_epoch
from sumame.firmware.net.dlms.descriptors import DataAccessResult as DAR
from sumame.firmware.net.dlms.descriptors import SelectiveAccess
from sumame.firmware.net.dlms.notify import ExceptionResponse, ServiceError
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.registers_model import IntervalValues
from sumame.firmware.routes.aroute.scaling import energy_scale
from sumame.firmware.routes.aroute.server import PUBLIC_SAP, READER_SAP
from sumame.hal.relay import ContactState
from sumame.tools.hes.session import DlmsRefused, range_access


def a_route_events(m, kind=None):
    return [e for e in m.events if e.source == "a-route" and (kind is None or e.kind == kind)]


def entries(first, last, col_from=1, col_to=0):
    return SelectiveAccess(SELECTOR_ENTRY, axdr.structure(axdr.double_long_unsigned(first),
                                                          axdr.double_long_unsigned(last),
                                                          axdr.long_unsigned(col_from), axdr.long_unsigned(col_to)))


# ------------------------------------------------------------------------------------ model
@pytest.mark.parametrize("board,factor", [("emulated-lv", 1), ("emulated-hv", 24)])
def test_registers_carry_primary_energy_with_scaler_unit(board, factor):
    rt = meter(board, settle_s=3 * 3600)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        out = await s.get_list([(3, oc.ACTIVE_IMPORT, 2), (3, oc.ACTIVE_IMPORT, 3), (3, oc.VOLTAGE_R, 2),
                                (3, oc.VOLTAGE_R, 3), (3, oc.CURRENT_MAX, 3), (3, oc.POWER_IMPORT, 3)])
        await s.release()
        return out
    fwd, fwd_su, volt, volt_su, cur_su, pow_su = run(rt, go())
    readings = rt.meter.readings
    assert fwd.value == readings.cumulative_now(Quantity.FORWARD) * factor > 0
    assert fwd_su == axdr.structure(axdr.integer(1), axdr.enum(30))            # x10 Wh
    assert volt.value == readings.present().voltage_dv[0]
    assert volt_su == axdr.structure(axdr.integer(-1), axdr.enum(35))          # 0.1 V
    assert cur_su == axdr.structure(axdr.integer(-1), axdr.enum(33))           # 0.1 A
    assert pow_su == axdr.structure(axdr.integer(0), axdr.enum(27))            # W


def test_public_client_sees_identity_not_data_and_reader_sees_supply_point():
    rt = meter(settle_s=600)

    async def go():
        pub = await open_session(rt, settings(rt, PUBLIC_SAP))
        name, dev, clock, energy = await pub.get_list([(1, oc.LOGICAL_DEVICE_NAME, 2), (1, oc.DEVICE_ID, 2),
                                                       (8, oc.CLOCK, 2), (3, oc.ACTIVE_IMPORT, 2)])
        await pub.release()
        reader = await open_session(rt, settings(rt, READER_SAP))
        sp = await reader.get(1, oc.SUPPLY_POINT_NUMBER, 2)
        await reader.release()
        return name, dev, clock, energy, sp
    name, dev, clock, energy, sp = run(rt, go())
    assert dev.value == "SUMAME000001" and name.value == "SUMSUMAME000001"
    assert octets_to_epoch(clock.value) == pytest.approx(rt.clock.now(), abs=2)
    assert clock.value[9:11] == b"\xFD\xE4"                                  # JST: deviation -540
    assert energy == DAR.READ_WRITE_DENIED
    assert sp.value == rt.config.identity.supply_point and len(sp.value) == 22


def test_profiles_by_range_and_entry_with_no_data_as_null():
    rt = meter()
    rt.mains.schedule_outage(T0 + 3600 + 600, 1200)          # 01:10 - 01:30 JST
    rt.scheduler.run(until=T0 + 4 * 3600 + 120)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        rows30 = await s.get(7, oc.PROFILE_30, 2, range_access(T0 + 1800, T0 + 4 * 3600))
        cols30 = await s.get(7, oc.PROFILE_30, 3)
        rows5 = await s.get(7, oc.PROFILE_5, 2, entries(2, 4, 2, 3))
        period5 = await s.get(7, oc.PROFILE_5, 4)
        await s.release()
        return rows30, cols30, rows5, period5
    rows30, cols30, rows5, period5 = run(rt, go())
    values = IntervalValues(rt.meter.readings, energy_scale(rt.meter.config.scaling))
    ends = [octets_to_epoch(r.value[0].value) for r in rows30.value]
    assert ends == [T0 + 1800 * k for k in range(1, 9)]
    assert [c.value[1].value for c in cols30.value] == [oc.CLOCK, oc.ACTIVE_IMPORT_INTERVAL, oc.ACTIVE_EXPORT_INTERVAL,
                                                        oc.ACTIVE_IMPORT, oc.ACTIVE_EXPORT]
    for end, row in zip(ends, rows30.value):
        fwd = row.value[1]
        if end == T0 + 5400:        # (01:00, 01:30] holds the outage; the meter is back at 01:30 sharp
            assert fwd.type is axdr.DataType.NULL and row.value[2].type is axdr.DataType.NULL
        else:
            assert fwd.value == values.energy(Quantity.FORWARD, end, 30) and fwd.value is not None
    assert period5.value == 300
    assert [len(r.value) for r in rows5.value] == [2, 2, 2]  # entries 2..4, columns 2..3


def test_out_of_range_selective_access_and_unknown_objects_are_refused_and_logged():
    rt = meter(settle_s=3600)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        out = {"beyond": await s.get(7, oc.PROFILE_30, 2, entries(10_000, 10_010)),
               "reversed": await s.get(7, oc.PROFILE_30, 2, range_access(T0 + 3600, T0))}
        for name, args in {"columns": (7, oc.PROFILE_30, 2, entries(1, 2, 4, 9)),
                           "unknown": (3, bytes((1, 0, 99, 9, 9, 255)), 2),
                           "class": (3, oc.PROFILE_30, 2),
                           "attribute": (3, oc.ACTIVE_IMPORT, 9)}.items():
            try:
                await s.get(*args)
            except DlmsRefused as exc:
                out[name] = exc.code
        out["still"] = await s.get(8, oc.CLOCK, 2)
        await s.release()
        return out
    before = [snap.pack() for snap in rt.meter.registers.snapshots()]
    out = run(rt, go())
    assert out["beyond"].value == () and out["reversed"].value == ()
    assert out["columns"] == DAR.OTHER_REASON
    assert out["unknown"] == DAR.OBJECT_UNDEFINED and out["attribute"] == DAR.OBJECT_UNDEFINED
    assert out["class"] == DAR.OBJECT_CLASS_INCONSISTENT
    assert out["still"].type is axdr.DataType.OCTET_STRING       # the association survived
    logged = a_route_events(rt.meter, "dlms-refused")
    assert len(logged) == 4 and "99.9.9" in " ".join(e.detail for e in logged)
    after = [snap.pack() for snap in rt.meter.registers.snapshots()]
    assert after[:len(before)] == before                           # stored data untouched


# ------------------------------------------------------------------------------------ security
def test_wrong_password_is_refused_and_logged():
    rt = meter(settle_s=60)

    async def go():
        with pytest.raises(AssociationRefused) as refused:
            await open_session(rt, settings(rt, READER_SAP, password=b"wrong"))
        return refused.value.aare.diagnostic
    assert run(rt, go()) == 13                                      # authentication-failure
    (event,) = a_route_events(rt.meter, "dlms-auth-failure")
    assert "wrong LLS password" in event.detail


def test_bad_gcm_tag_and_replay_get_exception_responses_and_the_association_survives():
    rt = meter(settle_s=60)

    async def go():
        s = await open_session(rt, settings(rt))
        good = s.client.get(8, oc.CLOCK, 2)
        forged = good[:-1] + bytes((good[-1] ^ 0x01,))
        bad_tag = decode_apdu(await s._exchange(forged))
        first = s.client.receive(await s._exchange(good)).response
        replay = decode_apdu(await s._exchange(good))
        still = await s.get(8, oc.CLOCK, 2)
        await s.release()
        return bad_tag, first, replay, still
    bad_tag, first, replay, still = run(rt, go())
    assert bad_tag == ExceptionResponse(1, ServiceError.DECIPHERING_ERROR)
    assert first.result.type is axdr.DataType.OCTET_STRING
    assert isinstance(replay, ExceptionResponse) and replay.service_error == ServiceError.INVOCATION_COUNTER_ERROR
    assert still.type is axdr.DataType.OCTET_STRING
    assert len(a_route_events(rt.meter, "dlms-decipher-failure")) == 1
    assert len(a_route_events(rt.meter, "dlms-replay")) == 1


def test_a_recorded_association_is_refused_after_a_reboot_and_the_meter_never_reuses_an_ic():
    rt = meter(settle_s=60)
    sent = []

    async def session_recorded():
        s = await open_session(rt, settings(rt), associate=False)
        real_send = s.link.send
        s.link.send = lambda data: (sent.append(data), real_send(data))
        await s.associate()
        await s.get(3, oc.ACTIVE_IMPORT, 2)
        await s.release()
        pub = await open_session(rt, settings(rt, PUBLIC_SAP))
        ic = (await pub.get(1, oc.INVOCATION_COUNTER, 2)).value
        await pub.release()
        return ic

    ic_before = run(rt, session_recorded())
    rt.mains.schedule_outage(rt.clock.now() + 1, 120)
    rt.scheduler.run_for(300)
    assert rt.meter.boot_report is not None and rt.extras["power"].reboots == 1

    async def replay():
        conn = await network(rt).connect(rt.config.identity.serial)
        conn.send(sent[0])                                           # the recorded AARQ
        reply = WrapperPdu.decode(await conn.recv(20)).apdu
        conn.close()
        pub = await open_session(rt, settings(rt, PUBLIC_SAP))
        ic = (await pub.get(1, oc.INVOCATION_COUNTER, 2)).value
        await pub.release()
        return reply, ic

    aare, ic_after = run(rt, replay())
    assert aare[0] == 0x61 and bytes.fromhex("A203020101") in aare        # AARE rejected-permanent
    assert ic_after > ic_before
    assert any("not above the last accepted" in e.detail for e in a_route_events(rt.meter, "dlms-auth-failure"))


def test_malformed_wrapper_and_apdus_are_logged_dropped_or_answered():
    rt = meter(settle_s=600)
    before = [snap.pack() for snap in rt.meter.registers.snapshots()]

    async def go():
        conn = await network(rt).connect(rt.config.identity.serial)
        conn.send(b"\x00\x07\x00\x20\x00\x01\x00\x03\xC0\x01\xC1")          # wrapper version 7
        with pytest.raises(TimeoutError):
            await conn.recv(5)
        conn.close()
        s = await open_session(rt, settings(rt, READER_SAP))
        answers = [decode_apdu(await s._exchange(raw)) for raw in
                   (b"\xC0\x01", b"\xC0\x01\xC1\x00\x03", b"\xEE\x00")]
        still = await s.get(3, oc.ACTIVE_IMPORT, 2)
        aare = decode_apdu(await s._exchange(b"\x60\x01\x00"))              # a malformed AARQ ...
        with pytest.raises(DlmsRefused) as gone:                           # ... ends the association
            await s.get(3, oc.ACTIVE_IMPORT, 2)
        s.link.close()
        return answers, still, aare, gone.value
    answers, still, aare, gone = run(rt, go())
    assert all(isinstance(a, ExceptionResponse) for a in answers)
    assert still.value == rt.meter.readings.cumulative_now(Quantity.FORWARD)   # survived those
    assert aare.result == 1 and gone.exception and gone.code == ServiceError.OPERATION_NOT_POSSIBLE
    bad = a_route_events(rt.meter, "dlms-bad-input")
    assert any("bad wrapper" in e.detail for e in bad) and len(bad) >= 4
    assert [snap.pack() for snap in rt.meter.registers.snapshots()][:len(before)] == before


def test_event_flood_is_rate_limited():
    rt = meter(settle_s=60)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        for _ in range(40):
            await s._exchange(b"\xC0\x01")
        await s.release()
    run(rt, go())
    logged = a_route_events(rt.meter, "dlms-bad-input")
    assert len(logged) == 10 and rt.meter.switchgear.comms  # the rest is counted, not logged
    rt.scheduler.run_for(120)
    run(rt, go())
    assert "similar events not logged" in a_route_events(rt.meter, "dlms-bad-input")[10].detail


# ------------------------------------------------------------------------------------ control
def test_disconnect_reconnect_and_limit_from_the_head_end_operate_the_real_breaker():
    rt = meter(poll=1.0, settle_s=30)
    relay = rt.built.emulated["relay"]
    hes = head_end(rt)
    opened = run(rt, hes.command("SUMAME000001", "open"))
    assert opened["ok"] and opened["output_state"] is False
    assert relay.sensed() is ContactState.OPEN and rt.meter.switchgear.breaker.mode is BreakerMode.OPEN_REMOTE
    closed = run(rt, hes.command("SUMAME000001", "close"))
    assert closed["ok"] and closed["output_state"] is True and relay.sensed() is ContactState.CLOSED
    limit = run(rt, hes.command("SUMAME000001", "limit", 40))
    assert limit["ok"] and limit["limit_a"] == 40 and rt.meter.switchgear.breaker.limit_a == 40
    odd = run(rt, hes.command("SUMAME000001", "limit", 35))
    assert not odd["ok"] and "OTHER_REASON" in odd["detail"] and rt.meter.switchgear.breaker.limit_a == 40
    ops = [e for e in rt.meter.events if e.kind in ("switch-open", "switch-close", "switch-limit")]
    assert [e.source for e in ops] == ["a-route"] * 3
    assert "remote_disconnect by client 0x30" in ops[0].detail
    assert [c["ok"] for c in hes.store.commands()] == [1, 1, 1, 0]


def test_actuation_needs_the_ciphered_hls_association():
    rt = meter(settle_s=60)
    relay = rt.built.emulated["relay"]

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        results = []
        for call in (s.action(70, oc.DISCONNECT_CONTROL, 1, axdr.integer(0)),
                     s.set(71, oc.LIMITER, 4, axdr.long_unsigned(400)),
                     s.set(1, oc.SOFT_SWITCH, 2, axdr.unsigned(15))):
            try:
                await call
            except DlmsRefused as exc:
                results.append(exc.code)
        await s.release()
        return results
    assert run(rt, go()) == [DAR.READ_WRITE_DENIED] * 3
    assert relay.sensed() is ContactState.CLOSED and rt.meter.switchgear.breaker.limit_a == 30
    assert rt.meter.registers.transmitted_interval_min == 30


def test_hv_meter_refuses_switch_commands_with_the_reason():
    rt = meter("emulated-hv", settle_s=30)
    hes = head_end(rt)
    result = run(rt, hes.command("SUMAMEHV0001", "open"))
    assert not result["ok"] and "OBJECT_UNAVAILABLE" in result["detail"]
    (refusal,) = [e for e in rt.meter.events if e.kind == "switch-refused"]
    assert refusal.source == "a-route" and "no switch" in refusal.detail


def test_locked_out_breaker_refuses_open_and_close():
    rt = meter(overrides={"asic": {"profile": "constant", "profile_options": {"power_w": 12000.0}},
                          "breaker": {"lockout_trips": 2}}, poll=1.0)
    hes = head_end(rt)
    for _ in range(600):
        if rt.meter.switchgear.breaker.mode is BreakerMode.LOCKED_OUT:
            break
        rt.scheduler.run_for(1)
    assert rt.meter.switchgear.breaker.mode is BreakerMode.LOCKED_OUT
    close = run(rt, hes.command("SUMAME000001", "close"))
    open_ = run(rt, hes.command("SUMAME000001", "open"))
    assert not close["ok"] and "TEMPORARY_FAILURE" in close["detail"]
    assert not open_["ok"] and rt.meter.switchgear.breaker.mode is BreakerMode.LOCKED_OUT
    refusals = [e.detail for e in rt.meter.events if e.kind == "switch-refused"]
    assert any("locked out" in d for d in refusals)


# ------------------------------------------------------------------------------------ pushes, soft switch, logs
def test_soft_switch_selects_15_min_pushes_and_survives_a_reboot():
    rt = meter()
    hes = head_end(rt)
    assert run(rt, hes.command("SUMAME000001", "soft-switch", 15))["grid"] == 15
    rt.scheduler.run_for(3 * 3600)
    m = hes.meters["inproc://SUMAME000001"]
    rows15 = hes.store.intervals(m.id, 15)
    assert len(rows15) >= 10 and {r["source"] for r in rows15} == {"push"}
    rt.mains.schedule_outage(rt.clock.now() + 10, 60)
    rt.scheduler.run_for(600)
    assert rt.meter.registers.transmitted_interval_min == 15 and rt.meter.readings.transmitted_interval_min == 15


def test_outage_is_in_the_power_log_liveness_and_restore_alarm():
    rt = meter()
    hes = head_end(rt)
    start = T0 + 2 * 3600 + 7 * 60
    rt.mains.schedule_outage(start, 3600)
    rt.scheduler.run(until=start + 3600 + 1800)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        log = await s.get(7, oc.POWER_LOG, 2)
        live = await s.get(1, oc.SUPPLY_STATUS, 2)
        count = await s.get(1, oc.POWER_FAILURES, 2)
        await s.release()
        return log, live, count
    log, live, count = run(rt, go())
    codes = [(octets_to_epoch(r.value[0].value), r.value[1].value) for r in log.value]
    assert [c for _, c in codes] == [1, 2] and codes[1][0] == start + 3600
    assert start - 60 <= codes[0][0] <= start
    assert live.value[0].value == 0 and octets_to_epoch(live.value[3].value) == start + 3600
    assert count.value == 1
    assert hes.stats["alarms"] == 1
    (outage,) = hes.store.outages()
    assert outage["end_at"] == start + 3600 and outage["restored_detected_at"] - outage["end_at"] < 60


def test_last_gasp_push_on_hold_up_energy():
    rt = meter(overrides={"power": {"hold_up_j": 20.0}}, poll=1.0)
    hes = head_end(rt)
    start = rt.clock.now() + 100
    rt.mains.schedule_outage(start, 1800)
    rt.scheduler.run(until=start + 30)
    (outage,) = hes.store.outages()
    assert outage["how"] == "last-gasp push" and outage["detected_at"] - start < 5
    assert start <= outage["start_at"] <= start + 2
    rt.scheduler.run(until=start + 1800 + 120)
    (outage,) = hes.store.outages()
    assert outage["end_at"] == start + 1800


def test_a_route_follows_the_comms_unit():
    rt = meter(settle_s=30)
    net = network(rt)
    comms = rt.meter.switchgear.comms
    unit = comms.unit("comms")
    assert net.serving("SUMAME000001") and ("dlms-inproc", "SUMAME000001") in rt.meter.endpoints
    comms.request_remove("comms")
    rt.scheduler.run_for(5)
    assert not net.serving("SUMAME000001") and comms.routes_up() == {}
    comms.request_insert("comms", unit)
    rt.scheduler.run_for(5)
    assert net.serving("SUMAME000001") and comms.routes_up()["a-route"] == "comms"


def test_push_carries_the_latest_rows_ciphered():
    rt = meter()
    hes = head_end(rt)
    rt.scheduler.run(until=T0 + 3 * 3600 + 600)
    m = hes.meters["inproc://SUMAME000001"]
    rows = hes.store.intervals(m.id, 30)
    assert [r["source"] for r in rows] == ["push"] * len(rows) and len(rows) >= 5
    assert hes.stats["pushes"] >= 6 and hes.store.stats.duplicates >= 5   # each push repeats the previous row
    assert all(r["received_at"] - r["end_at"] < 60 for r in rows)


def test_undelivered_pushes_are_logged_once_and_their_recovery_too():
    rt = meter()
    rt.scheduler.run_for(3 * 3600)
    (failed,) = a_route_events(rt.meter, "push-failed")
    assert "127.0.0.1:4060" in failed.detail
    head_end(rt, push_address="127.0.0.1:4060")
    rt.scheduler.run_for(3600)
    (resumed,) = a_route_events(rt.meter, "push-resumed")
    assert "after 5 failed" in resumed.detail      # 00:30 ... 02:30; 03:00 got through
