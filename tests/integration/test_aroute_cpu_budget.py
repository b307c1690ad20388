"""Issue 9, defect 1 on the real meter: no A-route input holds the cooperative scheduler.

The meter runs in virtual time with ``cpu_in_virtual_time``: every scheduler step also advances
the virtual clock by the CPU time it took, so a request that hogs the CPU makes metering and the
breaker late *in virtual time*, as on the device. A hostile public client floods the worst
requests we can craft (pipelined, several per chunk); minute snapshots must stay on time, the
breaker must trip when it trips without the flood, and the watchdog must report nothing. On
the landed code the 56-byte SET alone held the A-route task for seconds.
"""
import pytest
from aroute_helpers import T0, meter, network, open_session, run, settings

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.apdu import decode_apdu
from sumame.firmware.net.dlms.notify import ExceptionResponse
from sumame.firmware.net.dlms.wrapper import WrapperPdu, WrapperStream
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.server import PUBLIC_SAP
from sumame.firmware.core.scheduler import sleep

OVERLOAD = {"asic": {"profile": "constant", "profile_options": {"power_w": 12000.0}}}
SET_HEAD = bytes.fromhex("C101C1" "0001" "0000600100FF" "02" "00")     # SET device ID attr 2


def nested_compact(levels: int, body: int = 16) -> bytes:
    desc = b"".join(b"\x01" + body.to_bytes(2, "big") for _ in range(levels)) + b"\x02\x00"
    return b"\x13" + desc + bytes([body]) + b"\x00" * body


def hostile_requests() -> list[bytes]:
    """The worst APDUs we found, each within the meter's 1024-byte receive PDU."""
    many_empty = b"\x13\x02\x65" + b"\x02\x00" * 100 + b"\x11" + b"\x82\x03\x00" + bytes(768)
    wide = axdr.encode(axdr.Data(axdr.DataType.COMPACT_ARRAY, axdr.CompactArray(
        axdr.TypeDesc(axdr.DataType.UNSIGNED), tuple(axdr.unsigned(i % 256) for i in range(1000)))))
    deep = b"\x01\x01" * (axdr.MAX_DEPTH - 1) + b"\x01\x81\xF0" + b"\x11\x00" * 240
    get_list = bytes.fromhex("C003C1") + bytes([60]) + bytes.fromhex("00010000600100FF0200") * 60
    return [SET_HEAD + nested_compact(5), SET_HEAD + nested_compact(7), SET_HEAD + many_empty,
            SET_HEAD + wide, SET_HEAD + deep, get_list]


def test_the_hostile_set_is_56_bytes_on_the_wire():
    assert len(WrapperPdu(PUBLIC_SAP, 1, SET_HEAD + nested_compact(5)).encode()) == 56


def _run(flood: bool, minutes: int = 3):
    rt = meter(overrides=OVERLOAD, poll=1.0)
    rt.scheduler.cpu_in_virtual_time = True
    lateness, answers = [], []
    metering = rt.meter.metering
    take = metering.on_snapshot
    metering.on_snapshot = lambda snap: (lateness.append(rt.clock.now() - snap.minute * 60), take(snap))
    end = T0 + minutes * 60

    async def hostile():
        s = await open_session(rt, settings(rt, PUBLIC_SAP))
        stream = WrapperStream()
        s.link.send(WrapperPdu(s.wport, 1, SET_HEAD + nested_compact(5)).encode())   # 56 bytes
        answers.extend(decode_apdu(p.apdu) for p in stream.feed(await s.link.recv(30)))
        budget = rt.config.watchdog_budget_s
        assert rt.scheduler.longest_cpu_step[0] < budget, f"one request held the loop {rt.scheduler.longest_cpu_step}"
        burst = hostile_requests() * 10           # pipelined: 60 requests in one chunk
        while rt.clock.now() < end - 10:
            s.link.send(b"".join(WrapperPdu(s.wport, 1, apdu).encode() for apdu in burst))
            got = []
            while len(got) < len(burst):
                got += stream.feed(await s.link.recv(30))
            answers.extend(decode_apdu(p.apdu) for p in got)
            await sleep(10)
        s.link.close()

    if flood:
        run(rt, hostile(), limit_s=minutes * 60)
    rt.scheduler.run(until=end)
    trips = [e.at for e in rt.meter.events if e.kind == "switch-trip"]
    return rt, lateness, trips, answers


@pytest.fixture
def harness_heap_frozen():
    """A long pytest worker holds millions of objects from earlier tests; a full cyclic-GC pass
    over them (CI saw 0.34 s) would be charged to whichever step triggered it. Freeze that heap
    so a step's CPU is what the meter and the hostile input cost."""
    import gc
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.mark.timeout(120)     # backstop: the landed code needs hours for this flood
def test_a_flood_of_crafted_requests_leaves_metering_and_the_breaker_on_time(harness_heap_frozen):
    quiet_rt, quiet_late, quiet_trips, _ = _run(False)
    rt, late, trips, answers = _run(True)
    budget = rt.config.watchdog_budget_s
    assert isinstance(answers[0], ExceptionResponse)                # the 56-byte SET, refused
    assert len(answers) >= 60 * 10                                    # the flood was answered ...
    kinds = {type(a).__name__ for a in answers}
    assert kinds <= {"ExceptionResponse", "SetResponseNormal", "GetResponseWithList"}, kinds
    (aroute,) = [svc for svc in rt.meter.services if svc.name == "a-route"]
    refused = sum(isinstance(a, ExceptionResponse) for a in answers)
    assert aroute.server.counters["over_limit"] >= 30 * 10 and refused >= 30 * 10  # refused unbuilt
    assert len(late) == len(quiet_late) == 3                          # every minute snapshot taken
    assert max(late) < budget, f"snapshot {max(late):.3f} s late (watchdog budget {budget} s)"
    assert quiet_trips and len(trips) == len(quiet_trips)
    assert max(abs(a - b) for a, b in zip(trips, quiet_trips)) < budget
    # the watchdog measures wall time, which a loaded host stretches by preempting us: what no
    # input may do is *use* the CPU past the budget in one step (thread CPU time)
    assert [o for o in rt.scheduler.overruns if o.cpu_seconds >= budget] == []
    assert rt.scheduler.longest_cpu_step[0] < budget


def test_a_get_may_build_at_most_request_rows_profile_entries():
    """A reader (LLS) asking for the 5-min buffer 30 times in one GET-with-list: the entries of
    all items count against one request's REQUEST_ROWS; the items past it are refused before
    their rows are built (one day of data made 10 such items hold the loop 0.5 s before)."""
    from sumame.firmware.net.dlms.descriptors import DataAccessResult as DAR
    from sumame.firmware.net.dlms.server import REQUEST_ROWS
    from sumame.firmware.routes.aroute.server import READER_SAP
    from sumame.tools.hes.session import range_access

    rt = meter(settle_s=3 * 3600)

    async def go():
        s = await open_session(rt, settings(rt, READER_SAP))
        per_item = (await s.get(7, oc.PROFILE_5, 7)).value            # entries_in_use
        out = await s.get_list([(7, oc.PROFILE_5, 2)] * 30)
        wide = await s.get(7, oc.PROFILE_30, 2, range_access(T0 - 10 * 365 * 86400, T0 + 86400))
        rows30 = (await s.get(7, oc.PROFILE_30, 7)).value
        await s.release()
        return per_item, out, wide, rows30
    per_item, out, wide, rows30 = run(rt, go())
    fits = REQUEST_ROWS // per_item
    assert 0 < fits < 30
    assert all(isinstance(r, axdr.Data) and len(r.value) == per_item for r in out[:fits])
    assert out[fits:] == [DAR.OTHER_REASON] * (30 - fits)
    assert len(wide.value) == rows30 > 0                              # a wide range over little data is fine
    refusals = [e.detail for e in rt.meter.events if e.kind == "dlms-refused"]
    assert any(f"exceeds the {REQUEST_ROWS} one request may return" in d for d in refusals)
