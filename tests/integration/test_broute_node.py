"""B-route node behaviour in virtual time over the in-process medium: ESV rules, bad input,
announcements (INF and INFC), client limit, rate limit and DoS detection."""
from datetime import datetime

import pytest

from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.core.events import EventLog
from sumame.firmware.net import echonet as el
from sumame.firmware.net.echonet import CONTROLLER, NODE_PROFILE, Eoj, Esv, Frame, Property
from sumame.firmware.metrology.readings import Quantity
from sumame.firmware.routes.broute import edt
from sumame.firmware.routes.broute.guard import GuardOptions
from sumame.firmware.routes.broute.inprocess import InProcessMedium
from sumame.firmware.routes.broute.service import BRouteOptions, BRouteService
from sumame.firmware.core.scheduler import Scheduler
from sumame.tools.hems.sample_readings import SampleReadings

NOW = datetime(2025, 6, 15, 12, 10, 0, tzinfo=edt.JST).timestamp()
METER = Eoj.of(0x028801)


class Bench:
    def __init__(self, settle=True, **options):
        self.clock = VirtualClock(NOW)
        self.events = EventLog(self.clock)
        self.sched = Scheduler(self.clock)
        self.readings = SampleReadings(self.clock)
        guard = options.pop("guard", GuardOptions())
        self.svc = BRouteService(self.readings, self.events, self.sched, self.clock,
                                 BRouteOptions(ip_addresses=(), guard=guard, **options))
        self.medium = InProcessMedium(self.svc, self.sched)
        self.svc.start()
        self.tid = 0
        if settle:                      # let the start-up D5 announcement go out
            self.sched.run_for(0.5)

    def ask(self, address, esv, deoj, props, get_props=(), timeout=5.0):
        self.tid += 1
        frame = Frame(self.tid, CONTROLLER, deoj, esv, tuple(props), tuple(get_props))
        result = {}

        async def go():
            result["reply"] = await self.medium.peer(address).request(frame, timeout)
        self.sched.spawn(go(), name="client")
        self.sched.run_for(timeout + 0.5)
        return result["reply"]

    def raw(self, address, data, multicast=False):
        peer = self.medium.peer(address)
        peer.inbox.clear()
        peer.send(data, multicast)
        self.sched.run_for(2.0)
        return [el.decode(d) for _, d in peer.inbox]


@pytest.fixture
def bench():
    b = Bench()
    yield b
    b.sched.close()


def test_get_answers_in_request_order_and_echoes_tid(bench):
    reply = bench.ask("hems", Esv.GET, METER, [Property(e) for e in (0xE7, 0xE8, 0xE0, 0xE1, 0xD3, 0xEA)])
    assert reply.esv is Esv.GET_RES and reply.tid == bench.tid
    assert reply.seoj == METER and reply.deoj == CONTROLLER
    assert reply.epcs == [0xE7, 0xE8, 0xE0, 0xE1, 0xD3, 0xEA]
    assert int.from_bytes(reply.props[2].edt, "big") == bench.readings.cumulative_now(Quantity.FORWARD)


def test_mixed_get_is_answered_get_sna_with_pdc_zero(bench):
    reply = bench.ask("hems", Esv.GET, METER, [Property(0xE7), Property(0xB0), Property(0xE0), Property(0x97)])
    assert reply.esv is Esv.GET_SNA and reply.epcs == [0xE7, 0xB0, 0xE0, 0x97]
    assert [p.pdc for p in reply.props] == [4, 0, 4, 2]


def test_setc_whitelist_and_range_checks(bench):
    ok = bench.ask("hems", Esv.SETC, METER, [Property(0xE5, b"\x02")])
    assert ok.esv is Esv.SET_RES and ok.props == (Property(0xE5),)
    bad = bench.ask("hems", Esv.SETC, METER, [Property(0xE5, b"\x63"), Property(0xE5, b"\x64"),
                                              Property(0x97, b"\x00\x00"), Property(0x80, b"\x31")])
    assert bad.esv is Esv.SETC_SNA
    assert bad.props == (Property(0xE5), Property(0xE5, b"\x64"), Property(0x97, b"\x00\x00"),
                         Property(0x80, b"\x31"))
    assert bench.svc.node.objects[1].day == 0x63


def test_seti_is_silent_on_success_and_sna_on_refusal(bench):
    assert bench.raw("hems", el.encode(Frame(9, CONTROLLER, METER, Esv.SETI, (Property(0xE5, b"\x01"),)))) == []
    replies = bench.raw("hems", el.encode(Frame(10, CONTROLLER, METER, Esv.SETI, (Property(0xE0, b"\x00" * 4),))))
    assert [r.esv for r in replies] == [Esv.SETI_SNA] and replies[0].props[0].edt == b"\x00" * 4


def test_setget_writes_then_reads(bench):
    reply = bench.ask("hems", Esv.SETGET, METER, [Property(0xE5, b"\x01")], [Property(0xE5), Property(0xE2)])
    assert reply.esv is Esv.SETGET_RES
    assert reply.props == (Property(0xE5),) and reply.get_props[0].edt == b"\x01"
    assert reply.get_props[1].edt[:2] == b"\x00\x01"
    refused = bench.ask("hems", Esv.SETGET, METER, [Property(0xE7, b"\x00" * 4)], [Property(0xE7), Property(0xB0)])
    assert refused.esv is Esv.SETGET_SNA and refused.props[0].pdc == 4
    assert [p.pdc for p in refused.get_props] == [4, 0]


def test_inf_req_infc_and_instance_list(bench):
    reply = bench.ask("hems", Esv.INF_REQ, NODE_PROFILE, [Property(0xD5)])
    assert reply.esv is Esv.INF and reply.props[0].edt == bytes.fromhex("01028801")
    sna = bench.ask("hems", Esv.INF_REQ, METER, [Property(0xE7), Property(0xB0)])
    assert sna.esv is Esv.INF_SNA
    res = bench.ask("hems", Esv.INFC, METER, [Property(0x80, b"\x30")])
    assert res.esv is Esv.INFC_RES and res.props == (Property(0x80),)


def test_instance_d5_is_announced_at_start():
    b = Bench(settle=False)
    hems = b.medium.peer("hems")        # present from the start (multicast medium)
    b.sched.run_for(1.0)
    frames = [el.decode(d) for _, d in hems.inbox]
    assert frames and frames[0].esv is Esv.INF and frames[0].seoj == NODE_PROFILE
    assert frames[0].props == (Property(0xD5, bytes.fromhex("01028801")),)


def test_bad_input_is_answered_or_dropped_counted_and_logged(bench):
    bench.ask("hems", Esv.GET, METER, [Property(0x80)])
    truncated = bytes.fromhex("1081 00aa 05ff01 028801 62 03 e000 e700")   # OPC says 3
    [reply] = bench.raw("hems", truncated)
    assert reply.esv is Esv.GET_SNA and reply.tid == 0xAA and reply.epcs == [0xE0, 0xE7]
    wrong_pdc = bytes.fromhex("1081 00ab 05ff01 028801 61 01 e5 05 01")
    [reply] = bench.raw("hems", wrong_pdc)
    assert reply.esv is Esv.SETC_SNA
    assert bench.raw("hems", bytes.fromhex("1081 00ac 05ff01 028801 65 01 e000")) == []   # reserved ESV
    assert bench.raw("hems", bytes.fromhex("1082 00ad 0102030405")) == []                  # format 2
    assert bench.raw("hems", b"garbage") == []
    # an object the node does not hold: dropped (no SNA "from" 0x013001), counted and logged
    assert bench.raw("hems", el.encode(Frame(0xAE, CONTROLLER, Eoj.of(0x013001), Esv.GET, (Property(0x80),)))) == []
    assert bench.raw("hems", bytes.fromhex("1081 00b0 05ff01 013001 62 02 8000")) == []  # truncated too
    oversized = el.encode(Frame(0xAF, CONTROLLER, METER, Esv.GET, tuple(Property(0xE7) for _ in range(30))))
    [reply] = bench.raw("hems", oversized)
    assert reply.esv is Esv.GET_SNA and len(reply.props) == 30
    assert [p.pdc for p in reply.props] == [4] * 24 + [0] * 6
    assert bench.svc.counters["malformed"] == 6 and bench.svc.counters["unknown_deoj"] == 1
    assert bench.events.of_kind("b-route-bad-frame") and bench.events.of_kind("b-route-unknown-eoj")
    assert bench.ask("hems", Esv.GET, METER, [Property(0xE7)]).esv is Esv.GET_RES   # still serving


def test_multicast_requests_answer_unicast_after_a_backoff_and_unknown_deoj_is_silent(bench):
    peer = bench.medium.peer("hems")
    bench.sched.run_for(1)
    peer.inbox.clear()
    peer.send(el.encode(Frame(0x77, CONTROLLER, Eoj.of(0x0EF000), Esv.GET, (Property(0xD6),))), multicast=True)
    sent_at = bench.clock.now()
    bench.sched.run_for(0.05)
    assert not peer.inbox                                  # back-off: not yet
    bench.sched.run_for(2)
    [(at, data)] = list(peer.inbox)
    assert 0.1 <= at - sent_at <= 1.0 and el.decode(data).props[0].edt == bytes.fromhex("01028801")
    assert bench.raw("other", el.encode(Frame(1, CONTROLLER, Eoj.of(0x013001), Esv.GET, (Property(0x80),))),
                     multicast=True) == []
    assert ("inproc", "other") not in bench.svc.guard.clients   # chatter takes no slot


def _announcements(peer, esv):
    return [f for f in (el.decode(d) for _, d in peer.inbox) if f.esv is esv]


def test_fixed_time_values_announced_by_inf_within_5_minutes(bench):
    hems = bench.medium.peer("hems")
    bench.sched.run_for(3 * 3600)
    infs = [(f, at) for at, d in hems.inbox if (f := el.decode(d)).esv is Esv.INF and f.seoj == METER]
    assert len(infs) == 6
    for frame, at in infs:
        assert frame.epcs == [0xEA, 0xEB]
        boundary = at // 1800 * 1800
        assert 0 < at - boundary < 300
        assert frame.props[0].edt[:7] == edt.datetime7(boundary)
        assert int.from_bytes(frame.props[0].edt[7:], "big") == bench.readings.cumulative_at(Quantity.FORWARD, boundary)


def test_infc_repeats_until_infc_res():
    b = Bench(announce="infc", infc_retry_s=30.0, infc_max_tries=4)
    b.ask("hems", Esv.GET, METER, [Property(0x80)])        # become a client
    b.ask("silent", Esv.GET, METER, [Property(0x80)])
    hems = b.medium.peer("hems")
    acked = []

    async def answer():
        from sumame.firmware.core.scheduler import sleep
        while True:
            await hems.arrived.wait()
            hems.arrived.clear()
            while hems.inbox:
                _, d = hems.inbox.popleft()
                f = el.decode(d)
                if f.esv is Esv.INFC:
                    acked.append(f)
                    if len(acked) >= 2:         # ignore the first, answer the second
                        hems.send(el.encode(Frame(f.tid, CONTROLLER, f.seoj, Esv.INFC_RES,
                                                  tuple(Property(p.epc) for p in f.props))))
            await sleep(0)
    b.sched.spawn(answer(), name="hems-infc")
    b.sched.run_for(1800)
    silent = [f for _, d in b.medium.peer("silent").inbox if (f := el.decode(d)).esv is Esv.INFC]
    assert len(acked) == 2 and acked[0].tid == acked[1].tid
    assert len(silent) == 4
    assert b.events.of_kind("b-route-infc-unacked")


def test_fourth_device_is_refused_and_logged(bench):
    for name in ("hems", "vpp", "ppa"):
        assert bench.ask(name, Esv.GET, METER, [Property(0xE7)]).esv is Esv.GET_RES
    assert bench.ask("intruder", Esv.GET, METER, [Property(0xE7)], timeout=2) is None
    assert bench.ask("intruder", Esv.GET, METER, [Property(0xE7)], timeout=2) is None
    [event] = bench.events.of_kind("b-route-refused")
    assert "intruder" in event.detail and bench.svc.guard.counters["refused"] == 2
    assert bench.ask("vpp", Esv.GET, METER, [Property(0xE7)]).esv is Esv.GET_RES


def test_client_limit_is_shared_with_another_medium(bench):
    sent = []
    bench.svc.attach_medium("wi-sun", lambda data, addr: sent.append((addr, data)))
    frame = el.encode(Frame(5, CONTROLLER, METER, Esv.GET, (Property(0xE7),)))
    assert bench.svc.deliver("wi-sun", "fe80::1", frame) == "answered" and sent
    bench.ask("hems", Esv.GET, METER, [Property(0xE7)])
    bench.ask("vpp", Esv.GET, METER, [Property(0xE7)])
    assert bench.ask("ppa", Esv.GET, METER, [Property(0xE7)], timeout=2) is None
    bench.svc.release_client("wi-sun", "fe80::1")
    bench.clock.advance_to(bench.clock.now() + 61)          # refusal memory expires
    assert bench.ask("ppa", Esv.GET, METER, [Property(0xE7)]).esv is Esv.GET_RES


def test_flooding_client_is_rate_limited_and_detected():
    b = Bench(guard=GuardOptions(rate_per_s=2.0, burst=5, dos_drops=10, block_s=60))
    frame = el.encode(Frame(1, CONTROLLER, METER, Esv.GET, (Property(0xE7),)))
    verdicts = [b.svc.deliver("inproc", "flood", frame) for _ in range(40)]
    assert verdicts[:5] == ["answered"] * 5
    assert verdicts[5:15] == ["rate-limited"] * 10 and set(verdicts[15:]) == {"blocked"}
    [dos] = b.events.of_kind("dos-detected")
    assert "flood" in dos.detail
    b.clock.advance_to(b.clock.now() + 61)
    assert b.svc.deliver("inproc", "flood", frame) == "answered"
