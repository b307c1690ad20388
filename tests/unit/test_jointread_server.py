"""Connection server logic without a network: models, exactly-once delivery, gap detection,
alarm de-duplication, sealed results checked by the company."""
from types import SimpleNamespace

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot.gateway import IOT_PUSH_LN
from sumame.tools.hes.jointread_server import Company, ConnectionServer, PendingCommand

START = 1775055600.0          # 2026-04-02 00:00 JST
TID = b"WTR00001"


def server(model):
    clock = VirtualClock(START + 86400 + 3 * 3600)
    hes = SimpleNamespace(on_other_push=None, store=SimpleNamespace(add_command=lambda *a: None))
    water = Company("water", c.KIND_WATER, keys={TID: b"k" * 16})
    srv = ConnectionServer(SimpleNamespace(clock=clock), hes, [water], meter_of={TID: "m"}, model=model,
                           since=START + 3600)
    return srv, water, hes


def push(hes, mtype, body, kind=c.KIND_WATER):
    rec = axdr.structure(axdr.octet_string(TID), axdr.unsigned(kind), axdr.unsigned(mtype),
                         axdr.double_long_unsigned(int(START)), axdr.octet_string(body))
    hes.on_other_push(SimpleNamespace(id="m"), axdr.structure(axdr.octet_string(IOT_PUSH_LN),
                                                              axdr.visible_string("M"), axdr.array([rec])).value)


def day_values(first_hour, n=24):
    return c.Values(c.KIND_WATER, int(first_hour), tuple((1000 + i, 0) for i in range(n))).encode()


def test_transparent_forwards_at_once_store_waits_for_the_batch_and_both_deliver_once():
    for model in ("transparent", "store"):
        srv, water, hes = server(model)
        push(hes, c.VALUES, day_values(START + 3600))
        push(hes, c.VALUES, day_values(START + 3600))          # the same day again (a gap-fill overlap)
        assert srv.stats["values"] == 24 and srv.stats["values-duplicate"] == 24
        assert len(water.received) == (24 if model == "transparent" else 0)
        srv._deliver([k for k in srv.values if k not in srv.delivered], srv.clock.now())
        srv._deliver(list(srv.values), srv.clock.now())       # a second batch delivers nothing new
        assert len(water.received) == 24 and water.duplicates == 0


def test_gaps_are_the_hours_missing_up_to_the_last_uploaded_day():
    srv, water, hes = server("store")
    push(hes, c.VALUES, day_values(START + 3600, 10))          # hours 01:00-10:00 of day 1 only
    missing = srv.missing(TID, srv.clock.now())
    assert missing[0] == START + 11 * 3600 and missing[-1] == START + 86400
    assert len(missing) == 14


def test_alarm_repeats_are_counted_once():
    srv, water, hes = server("store")
    body = c.Alarm(c.ALARM_ABNORMAL_FLOW, int(START) + 60).encode()
    push(hes, c.ALARM, body)
    push(hes, c.ALARM, body)
    assert len(water.alarms) == 1 and srv.stats["alarms-duplicate"] == 1


def test_forged_result_is_rejected_and_a_true_one_completes_the_command():
    srv, water, hes = server("store")
    srv.commands.append(PendingCommand(water, TID, 7, c.OP_CLOSE, srv.clock.now() - 30))
    forged = c.SealedResult(TID, 7, c.RESULT_OK, False, 0).seal(b"x" * 16)
    push(hes, c.COMMAND_RESULT, forged)
    assert srv.stats["results-forged"] == 1 and not srv.commands[0].answered
    push(hes, c.COMMAND_RESULT, c.SealedResult(TID, 7, c.RESULT_OK, False, 0).seal(b"k" * 16))
    assert srv.commands[0].ok and srv.commands[0].done_at - srv.commands[0].sent_at == 30
