"""External-connection security on the real meter (build_runtime, virtual time): every B-route
frame logged with its verdict; a hostile home-side peer gets no path to the A-route objects; the
head-end cuts a peer off and reconnects it by ciphered HLS ACTION (replayed, forged and
unauthenticated commands refused and logged); cut-off and log survive a reboot; the head-end
reads the log (COSEM profile) and ``sumame hes extlog`` prints it in JST."""
import pytest
from aroute_helpers import T0, head_end, meter, network, open_session, run, settings

from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.net.dlms.wrapper import WrapperPdu
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.server import PUBLIC_SAP, READER_SAP
from sumame.firmware.security.cosem import CONTROL_CLASS, CUTOFF, EXT_CONTROL, EXT_LOG, RECONNECT
from sumame.firmware.security.extlog import Direction, Verdict
from sumame.firmware.switchgear.breaker import BreakerMode
from sumame.tools.hes.extsec import decode_rows
from sumame.tools.hes.session import DlmsRefused

SID = "SUMAME000001"
GET_METER = bytes.fromhex("1081000105ff010288016201e700")   # Get 0x028801 E7 (instantaneous power)


def ext(rt):
    return next(s for s in rt.meter.services if s.name == "ext-security")


def broute(rt):
    return next(s for s in rt.meter.services if s.name == "b-route").service


def echonet(tid, deoj, esv, epc, edt=b""):
    return bytes.fromhex("1081") + tid.to_bytes(2, "big") + bytes.fromhex("05ff01") + bytes.fromhex(deoj) + \
        bytes((esv, 1, epc, len(edt))) + edt


def log_of(rt, peer):
    return [e for e in ext(rt).log.entries if e.peer == peer]


def kinds(rt, source="extsec"):
    return [e.kind for e in rt.meter.events if e.source == source]


@pytest.fixture
def rt():
    return meter(settle_s=60)


def test_every_b_route_frame_in_and_out_is_logged_with_its_verdict(rt):
    svc = broute(rt)
    assert svc.deliver("inproc", "hems1", GET_METER) == "answered"
    assert svc.deliver("inproc", "hems1", b"\x10\x81\x00") == "malformed"
    rows = log_of(rt, "inproc:hems1")
    ins = [(e.size, e.verdict) for e in rows if e.direction is Direction.IN]
    outs = [e for e in rows if e.direction is Direction.OUT]
    assert ins == [(len(GET_METER), Verdict.ACCEPTED), (3, Verdict.MALFORMED)]
    assert len(outs) == 1 and outs[0].verdict is Verdict.SENT and outs[0].size > 14
    assert all(e.at == pytest.approx(rt.clock.now(), abs=1) for e in rows)


def test_hostile_home_peer_has_no_path_to_a_route_objects(rt):
    """DLMS over the B-route (a recorded head-end cutoff session and a GET of the switch), ECHONET
    Set of the switch-like and not-writable properties, objects the node does not hold: all
    refused and logged; the breaker, the cut-off list and the A-route stay untouched."""
    svc, sec = broute(rt), ext(rt)
    sent = []

    async def record():                              # a genuine head-end session, captured
        s = await open_session(rt, settings(rt), associate=False)
        real = s.link.send
        s.link.send = lambda data: (sent.append(data), real(data))
        await s.associate()
        await s.action(CONTROL_CLASS, EXT_CONTROL, RECONNECT, axdr.visible_string("ip:198.51.100.7"))
        await s.action(70, oc.DISCONNECT_CONTROL, 2, axdr.integer(0))
        await s.release()
    run(rt, record())
    cut_before, mode_before = set(sec.cut_off), rt.meter.switchgear.breaker.mode
    dlms_events = len([e for e in rt.meter.events if e.source == "a-route"])
    hostile = "inproc:hostile"
    statuses = [svc.deliver("inproc", "hostile", data) for data in sent]
    wrapper_get = WrapperPdu(PUBLIC_SAP, 1, bytes.fromhex("c001c1") + bytes((0, 70)) + oc.DISCONNECT_CONTROL
                             + bytes((2, 0))).encode()
    statuses.append(svc.deliver("inproc", "hostile", wrapper_get))
    statuses.append(svc.deliver("inproc", "hostile", echonet(1, "028801", 0x61, 0x80, b"\x31")))   # SetC off
    statuses.append(svc.deliver("inproc", "hostile", echonet(2, "028801", 0x61, 0xE0, b"\x00\x00\x00\x00")))   # not writable
    statuses.append(svc.deliver("inproc", "hostile", echonet(3, "028701", 0x62, 0x80)))            # not held
    statuses.append(svc.deliver("inproc", "hostile", echonet(4, "0ef001", 0x61, 0xbf, b"\x00\x01")))  # node id
    assert statuses[:len(sent) + 1] == ["malformed"] * (len(sent) + 1)
    assert statuses[-4:] == ["refused", "refused", "unknown_deoj", "refused"]
    verdicts = [e.verdict for e in log_of(rt, hostile) if e.direction is Direction.IN]
    assert verdicts == [Verdict.MALFORMED] * (len(sent) + 1) + [Verdict.NOT_ALLOWED] * 4
    assert sec.cut_off == cut_before and rt.meter.switchgear.breaker.mode == mode_before
    assert len([e for e in rt.meter.events if e.source == "a-route"]) == dlms_events   # never reached the A-route


def test_cutoff_stops_traffic_at_once_both_ways_reconnect_restores_it(rt):
    hes, svc = head_end(rt), broute(rt)
    assert svc.deliver("inproc", "hems1", GET_METER) == "answered"
    assert ("inproc", "hems1") in svc.guard.clients
    out = run(rt, hes.cutoff_external(SID, "inproc:hems1"))
    assert out == {"ok": True, "detail": "done", "cut_off": ["inproc:hems1"]}
    assert ("inproc", "hems1") not in svc.guard.clients                       # slot released
    replies = svc.counters["sent"]
    assert svc.deliver("inproc", "hems1", GET_METER) == "cut-off"
    svc.send_to("inproc", "hems1", svc.announcer.instance_list_frame())       # nothing leaves either
    assert svc.counters["sent"] == replies
    tail = log_of(rt, "inproc:hems1")[-2:]
    assert [(e.direction, e.verdict) for e in tail] == [(Direction.IN, Verdict.CUT_OFF), (Direction.OUT, Verdict.CUT_OFF)]
    assert svc.deliver("inproc", "hems2", GET_METER) == "answered"            # the others keep being served
    assert run(rt, hes.reconnect_external(SID, "inproc:hems1"))["cut_off"] == []
    assert svc.deliver("inproc", "hems1", GET_METER) == "answered"
    assert kinds(rt)[-2:] == ["ext-cut-off", "ext-reconnected"]
    assert [(c["op"], c["argument"], c["ok"]) for c in hes.store.commands()][-2:] == \
        [("cutoff", "inproc:hems1", 1), ("reconnect", "inproc:hems1", 1)]


def test_unknown_peer_name_and_bad_parameters_are_refused_not_applied(rt):
    hes = head_end(rt)
    out = run(rt, hes.cutoff_external(SID, "bogus"))
    assert out["ok"] is False and out["detail"] == "not a peer name" and ext(rt).cut_off == set()
    out = run(rt, hes.cutoff_external(SID, "iot:NOSUCH"))        # no IoT route on this board
    assert out["ok"] is False and ext(rt).cut_off == set()

    async def wrong_type():
        s = await open_session(rt, settings(rt, tx=TxCounter(10 ** 6)))      # above the head-end's
        try:
            await s.action(CONTROL_CLASS, EXT_CONTROL, CUTOFF, axdr.unsigned(1))
        finally:
            await s.release()
    with pytest.raises(DlmsRefused):
        run(rt, wrong_type())
    assert ext(rt).cut_off == set()


@pytest.mark.parametrize("sap", [PUBLIC_SAP, READER_SAP])
def test_unauthenticated_or_unciphered_cutoff_is_refused_and_logged(rt, sap):
    async def go():
        s = await open_session(rt, settings(rt, sap))
        try:
            await s.action(CONTROL_CLASS, EXT_CONTROL, CUTOFF, axdr.visible_string("inproc:hems1"))
        finally:
            await s.release()
    with pytest.raises(DlmsRefused):
        run(rt, go())
    assert ext(rt).cut_off == set()
    assert "dlms-refused" in kinds(rt, "a-route")


def test_forged_cutoff_with_wrong_keys_is_refused(rt):
    async def go():
        s = await open_session(rt, settings(rt, ek=bytes(16), ak=bytes(16)), associate=False)
        await s.associate()
    with pytest.raises(Exception):
        run(rt, go())
    assert ext(rt).cut_off == set()


def test_replayed_cutoff_is_refused_after_reconnect_even_across_a_reboot(rt):
    sent = []

    async def record():
        s = await open_session(rt, settings(rt), associate=False)
        real = s.link.send
        s.link.send = lambda data: (sent.append(data), real(data))
        await s.associate()
        await s.action(CONTROL_CLASS, EXT_CONTROL, CUTOFF, axdr.visible_string("inproc:hems1"))
        await s.release()
    run(rt, record())
    assert ext(rt).cut_off == {"inproc:hems1"}

    async def reconnect():
        s = await open_session(rt, settings(rt, tx=TxCounter(10 ** 6)))
        await s.action(CONTROL_CLASS, EXT_CONTROL, RECONNECT, axdr.visible_string("inproc:hems1"))
        await s.release()
    run(rt, reconnect())
    assert ext(rt).cut_off == set()
    for reboot in (False, True):
        if reboot:
            rt.mains.schedule_outage(rt.clock.now() + 1, 120)
            rt.scheduler.run_for(300)

        async def replay():
            conn = await network(rt).connect(SID)
            answers = []
            for data in sent[:-1]:                  # the recorded AARQ, HLS reply and ACTION
                conn.send(data)
                try:
                    answers.append(WrapperPdu.decode(await conn.recv(20)).apdu)
                except Exception:                   # noqa: BLE001 - a dropped request is a refusal too
                    answers.append(None)
            conn.close()
            return answers
        run(rt, replay())
        assert ext(rt).cut_off == set(), "a replayed cutoff must not cut the peer off again"
    assert any("not above the last accepted" in e.detail for e in rt.meter.events if e.kind == "dlms-auth-failure")


def test_stale_counter_refused_by_the_object_itself(rt):
    """Belt and braces: even a request the association let through is refused when its
    invocation counter is not above the last cut-off/reconnect command's (stored in flash)."""
    from sumame.firmware.switchgear.control import DLMS_HLS_CIPHERED, Authority
    from sumame.firmware.security.service import CommandRefused
    sec = ext(rt)
    sec.check_authority(Authority(DLMS_HLS_CIPHERED, "aa|glo", 10, "client 0x30"), "cutoff x")
    with pytest.raises(CommandRefused):
        sec.check_authority(Authority(DLMS_HLS_CIPHERED, "aa|glo", 10, "client 0x30"), "cutoff x")
    rt.mains.schedule_outage(rt.clock.now() + 1, 120)
    rt.scheduler.run_for(300)
    with pytest.raises(CommandRefused):
        ext(rt).check_authority(Authority(DLMS_HLS_CIPHERED, "aa|glo", 9, "client 0x30"), "cutoff x")
    ext(rt).check_authority(Authority(DLMS_HLS_CIPHERED, "aa|glo", 11, "client 0x30"), "cutoff x")
    assert kinds(rt).count("ext-command-refused") == 2


def test_cutoff_and_log_survive_a_reboot_and_the_head_end_reads_the_log(rt):
    hes, svc = head_end(rt), broute(rt)
    svc.deliver("inproc", "hems1", GET_METER)
    run(rt, hes.cutoff_external(SID, "inproc:hems1"))
    svc.deliver("inproc", "hems1", GET_METER)
    rt.scheduler.run_for(30)                                      # > flush_s: the batch is on flash
    before = [e for e in ext(rt).log.entries]
    rt.mains.schedule_outage(rt.clock.now() + 1, 120)
    rt.scheduler.run_for(300)
    assert rt.extras["power"].reboots == 1
    sec = ext(rt)
    assert sec.log.restored >= len(before) and list(sec.log.entries)[:len(before)] == before
    assert sec.cut_off == {"inproc:hems1"}
    assert broute(rt).deliver("inproc", "hems1", GET_METER) == "cut-off"        # still cut off
    rows = run(rt, hes.read_extlog(SID, T0, rt.clock.now()))
    mine = [r for r in rows if r["peer"] == "inproc:hems1"]
    assert [r["verdict"] for r in mine if r["direction"] == "in"] == ["accepted", "cut-off", "cut-off"]
    assert all(isinstance(r["at"], float) and r["size"] == len(GET_METER) for r in mine if r["direction"] == "in")

    async def read_profile():
        s = await open_session(rt, settings(rt, READER_SAP))
        try:
            return await s.get(7, EXT_LOG, 7), await s.get(7, EXT_LOG, 3)
        finally:
            await s.release()
    in_use, captures = run(rt, read_profile())
    assert in_use.value == len(sec.log.entries) and len(captures.value) == 5


def test_profile_rows_decode():
    from sumame.firmware.security.cosem import ExternalLogSource
    from sumame.firmware.security.extlog import Entry, ExternalLog

    log = ExternalLog(None, flush_entries=1000)
    log.append(Entry(T0 + 0.5, "ip:10.0.0.1", Direction.IN, 14, Verdict.RATE_LIMITED))
    src = ExternalLogSource(log)
    rows = decode_rows(axdr.array(axdr.structure(*r) for r in src.entries(1, 1)))
    assert rows == [{"at": T0 + 0.5, "peer": "ip:10.0.0.1", "direction": "in", "size": 14, "verdict": "rate-limited"}]
    assert len(src.rows(T0, T0)) == 1 and src.rows(T0 + 1, T0 + 9) == []


def test_hls_but_unciphered_association_cannot_cut_off():
    """A board whose head-end association is not ciphered: HLS alone is not enough (no GCM
    invocation counter, so no replay protection) — refused by the object, logged."""
    from dataclasses import replace
    rt = meter(overrides={"aroute": {"ciphered": False}}, settle_s=60)

    async def go():
        s = await open_session(rt, replace(settings(rt), ciphered=False))
        try:
            await s.action(CONTROL_CLASS, EXT_CONTROL, CUTOFF, axdr.visible_string("inproc:hems1"))
        finally:
            await s.release()
    with pytest.raises(DlmsRefused):
        run(rt, go())
    assert ext(rt).cut_off == set() and "ext-command-refused" in kinds(rt)
    (refusal,) = [e for e in rt.meter.events if e.kind == "ext-command-refused"]
    assert "not ciphered" in refusal.detail                 # refused by the association check itself


def test_flood_from_one_peer_raises_one_rate_alarm_and_the_meter_keeps_serving(rt):
    svc = broute(rt)
    statuses = [svc.deliver("inproc", "flood", GET_METER) for _ in range(200)]
    assert "rate-limited" in statuses or "blocked" in statuses
    alarms = [e for e in rt.meter.events if e.kind == "ext-rate-alarm"]
    assert len(alarms) == 1 and "inproc:flood" in alarms[0].detail
    assert svc.deliver("inproc", "calm", GET_METER) == "answered"
    refused = [e for e in log_of(rt, "inproc:flood") if e.direction is Direction.IN and e.verdict.refused]
    assert refused and all(e.verdict is Verdict.RATE_LIMITED for e in refused)
    assert len(log_of(rt, "inproc:flood")) >= 200                 # every frame logged, refused or not


def test_wisun_peer_frames_auth_failures_and_cutoff_are_logged(rt):
    from sumame.firmware.routes.broute.wisun import WisunBRoute
    from sumame.hal.radio import AuthFailed, UdpReceived
    svc, sec = broute(rt), ext(rt)
    svc.attach_medium("wi-sun", lambda data, addr: None)
    w = WisunBRoute(svc, rt.meter.events, rt.scheduler, rt.clock, None, rbid="0" * 32, password="a" * 12)

    def udp(src, port=3610, secured=True, payload=GET_METER):
        return UdpReceived(src, "fe80::ffff", 3610, port, "00" * 8, secured, payload)
    w._handle(udp("fe80::1"))
    w._handle(udp("fe80::1", port=4059, payload=b"\x00\x01"))          # not the ECHONET port
    w._handle(udp("fe80::2", secured=False))                             # unsecured (forged / no PANA)
    for _ in range(3):
        w._handle(AuthFailed("fe80::3", "wrong password"))
    got = [(e.peer, e.verdict) for e in sec.log.entries if e.peer.startswith("wi-sun:") and e.direction is Direction.IN]
    assert got == [("wi-sun:fe80::1", Verdict.ACCEPTED), ("wi-sun:fe80::1", Verdict.NOT_ALLOWED),
                   ("wi-sun:fe80::2", Verdict.AUTH_FAILED)] + [("wi-sun:fe80::3", Verdict.AUTH_FAILED)] * 3
    (alarm,) = [e for e in rt.meter.events if e.kind == "ext-auth-alarm"]
    assert alarm.detail.startswith("wi-sun:fe80::3")
    assert sec.cutoff("wi-sun:fe80::1") == 0
    w._handle(udp("fe80::1"))
    assert sec.log.entries[-1].verdict is Verdict.CUT_OFF and w.counters["received"] == 2


def test_orderly_shutdown_writes_the_pending_batch(rt):
    sec = ext(rt)
    broute(rt).deliver("inproc", "hems1", GET_METER)
    assert sec.log.pending > 0
    written = sec.log.written
    rt.meter.shutdown()
    assert sec.log.pending == 0 and sec.log.written > written
