"""External-connection security on the IoT route (emulated Enhanced HAN, the real meter and
head-end): every terminal frame is in the external-connection log with its verdict; an outsider
raises an unknown-peer alarm; a hostile terminal sending DLMS APDUs, requests outside its uplink
or datagrams to the B-route port gets nothing and is logged; the head-end cuts a terminal off
(its frames are refused at the meter, nothing is accepted from it) and reconnects it."""
import pytest

from sumame.firmware.routes.iot import codec as c
from sumame.firmware.security.extlog import Direction, Verdict
from sumame.tools.fleet.jointread import JointReadScenario, setup_scenario

MIN = 60
AARQ = bytes.fromhex("0001003000010038603680020780a109060760857405080103a60a040800000000000000018a0207808b0760857405080201"
                     "ac0a80083132333435363738be10040e01000000065f1f040000101dffff")


def call(run, coro, budget_s=900):
    box = {}

    async def wrap():
        box["r"] = await coro

    run.fleet.scheduler.spawn(wrap(), name="test-call", group="jointread")
    end = run.fleet.clock.now() + budget_s
    while "r" not in box and run.fleet.clock.now() < end:
        run.run_for(5)
    assert "r" in box, "call did not finish in its budget"
    return box["r"]


def ext(run):
    return next(s for s in run.fleet.meter(0).services if s.name == "ext-security")


def entries(run, peer, direction=None):
    return [e for e in ext(run).log.entries if e.peer == peer and (direction is None or e.direction is direction)]


@pytest.fixture(scope="module")
def run():
    def add(world):
        world.add_terminal("HOSTILE1", "water")
        world.add_terminal("OUTSIDER", "gas", allow=False)

    r = setup_scenario(JointReadScenario(days=1, gas=1, water=1, relay_share=0.0, outage=None, valves_per_day=0,
                                         alarms=False, lossy_link=False), before_boot=add)
    for t in r.world.outsiders:
        t.start()
    r.run_for(15 * MIN)
    yield r
    r.fleet.close()


def test_terminal_frames_logged_and_outsider_alarmed(run):
    ins = entries(run, "iot:GAS00001", Direction.IN)
    outs = entries(run, "iot:GAS00001", Direction.OUT)
    assert ins and all(e.verdict is Verdict.ACCEPTED and e.size > 0 for e in ins)
    assert outs and all(e.verdict is Verdict.SENT for e in outs)
    outsider = [e for e in ext(run).log.entries if e.verdict is Verdict.UNKNOWN_PEER]
    assert outsider and all(e.peer.startswith("iot:") and len(e.peer) == 4 + 16 for e in outsider)
    alarms = [e for e in run.fleet.meter(0).events if e.kind == "ext-unknown-peer"]
    assert alarms and alarms[0].detail.startswith(outsider[0].peer)


def test_hostile_terminal_dlms_and_b_route_attempts_refused_and_logged(run):
    meter = run.fleet.meter(0)
    hostile = run.world.terminal("HOSTILE1").node
    assert hostile.joined
    hostile.role = "end"
    hostile.wake()
    breaker, a_events = meter.switchgear.breaker.mode, len([e for e in meter.events if e.source == "a-route"])
    before = len(entries(run, "iot:HOSTILE1", Direction.IN))
    hostile.send_app(AARQ)                                                       # DLMS over the IoT route
    hostile.send_app(c.encode(c.READ, 7, (0x0E7).to_bytes(2, "big")))          # meter data
    hostile.send_raw(run.world.coordinator.mac, 3610, bytes.fromhex("1081000105ff010288016201e700"))   # B-route
    hostile.send_raw(run.world.coordinator.mac, 4059, AARQ)                    # the A-route's port
    run.run_for(30)
    got = [e.verdict for e in entries(run, "iot:HOSTILE1", Direction.IN)[before:]]
    assert got[:4] == [Verdict.MALFORMED, Verdict.NOT_ALLOWED, Verdict.NOT_ALLOWED, Verdict.NOT_ALLOWED]
    assert meter.switchgear.breaker.mode == breaker
    assert len([e for e in meter.events if e.source == "a-route"]) == a_events


def test_head_end_cuts_a_terminal_off_and_reconnects_it(run):
    iot, serial = run.iot, run.fleet.meter(0).config.identity.serial
    gas = run.world.terminal("GAS00001")
    assert gas.node.joined
    out = call(run, run.hes.cutoff_external(serial, "iot:GAS00001"))
    assert out["ok"] and out["cut_off"] == ["iot:GAS00001"]
    assert iot.by_id[b"GAS00001"].cut_off and not iot.by_id[b"GAS00001"].joined
    mark = len(entries(run, "iot:GAS00001"))
    uplink = len(iot.uplink)
    values = c.encode(c.POLL, 9, c.poll_body(int(run.fleet.clock.now()), 0))
    iot.iot_rx(gas.spec.mac, values)            # a frame in flight at the radio when the cut-off landed
    assert iot.stats["cut-off-dropped"] == 1 and len(iot.uplink) == uplink
    assert entries(run, "iot:GAS00001")[-1].verdict is Verdict.CUT_OFF
    run.run_for(40 * MIN)
    after = entries(run, "iot:GAS00001")[mark:]
    assert after, "the cut-off terminal keeps trying: each try is logged"
    assert all(e.verdict is Verdict.CUT_OFF for e in after if e.direction is Direction.IN)
    assert not any(e.verdict is Verdict.SENT for e in after)
    assert not gas.node.joined
    out = call(run, run.hes.reconnect_external(serial, "iot:GAS00001"))
    assert out["ok"] and out["cut_off"] == []
    run.run_for(40 * MIN)
    assert gas.node.joined
    assert entries(run, "iot:GAS00001", Direction.IN)[-1].verdict is Verdict.ACCEPTED
    kinds = [e.kind for e in run.fleet.meter(0).events if e.source in ("extsec", "iot-route")]
    assert "ext-cut-off" in kinds and "ext-reconnected" in kinds and "iot-cut-off" in kinds


def _gateway_ctx(run, *, ciphered, counter=None):
    """A request context as the A-route server builds it: HLS level, the association's policy
    (ciphered or not) and, for a ciphered request, its GCM protection (system title, IC)."""
    from types import SimpleNamespace

    from sumame.firmware.net.dlms.cosem.base import Level, RequestContext
    session = SimpleNamespace(association=SimpleNamespace(policy=SimpleNamespace(ciphered=ciphered)))
    extra = {} if counter is None else {"protection": SimpleNamespace(kind="glo", system_title=b"HESTITLE",
                                                                      invocation_counter=counter)}
    return RequestContext(now=run.fleet.clock.now(), level=Level.HIGH, client_sap=0x30, session=session, extra=extra)


def test_gateway_cut_off_needs_a_ciphered_fresh_command_like_the_control_object(run):
    """Issue 11 §4: cut-off/reconnect by authenticated, replay-protected command only — also
    through the IoT gateway's own methods 2/3 (0.128.96.200.0.255), not HLS alone."""
    from sumame.firmware.net.dlms.cosem.base import CosemError
    from sumame.firmware.routes.iot.gateway import CUT_OFF, RECONNECT
    from sumame.firmware.net.dlms import axdr
    iot = run.iot
    gw, tid = iot.gateway, b"HOSTILE1"
    with pytest.raises(CosemError):                 # HLS, but unciphered: no integrity, no counter
        gw.invoke_method(CUT_OFF, axdr.octet_string(tid), _gateway_ctx(run, ciphered=False))
    assert not iot.by_id[tid].cut_off
    assert gw.invoke_method(CUT_OFF, axdr.octet_string(tid), _gateway_ctx(run, ciphered=True, counter=10 ** 9)).value == 0
    assert iot.by_id[tid].cut_off and "iot:HOSTILE1" in ext(run).cut_off     # one cut-off state, both views
    with pytest.raises(CosemError):                 # a replayed (same counter) reconnect is refused
        gw.invoke_method(RECONNECT, axdr.octet_string(tid), _gateway_ctx(run, ciphered=True, counter=10 ** 9))
    assert iot.by_id[tid].cut_off
    assert gw.invoke_method(RECONNECT, axdr.octet_string(tid),
                            _gateway_ctx(run, ciphered=True, counter=10 ** 9 + 1)).value == 0
    assert not iot.by_id[tid].cut_off and "iot:HOSTILE1" not in ext(run).cut_off
    refused = [e for e in run.fleet.meter(0).events if e.kind in ("ext-command-refused", "iot-command-refused")]
    assert len(refused) >= 2


def test_gateway_cut_off_without_the_external_security_still_refuses_a_replay(run):
    """A board with ``[extsec] enabled = false``: the route keeps the counter itself (flash)."""
    from sumame.firmware.net.dlms.cosem.base import CosemError
    from sumame.firmware.routes.iot.gateway import CUT_OFF, RECONNECT
    from sumame.firmware.net.dlms import axdr
    iot, tid = run.iot, b"HOSTILE1"
    saved, iot.external = iot.external, None
    try:
        assert iot.gateway.invoke_method(CUT_OFF, axdr.octet_string(tid),
                                         _gateway_ctx(run, ciphered=True, counter=5)).value == 0
        with pytest.raises(CosemError):
            iot.gateway.invoke_method(RECONNECT, axdr.octet_string(tid), _gateway_ctx(run, ciphered=True, counter=5))
        assert iot.by_id[tid].cut_off
        assert iot.gateway.invoke_method(RECONNECT, axdr.octet_string(tid),
                                         _gateway_ctx(run, ciphered=True, counter=6)).value == 0
        assert not iot.by_id[tid].cut_off
        other = _gateway_ctx(run, ciphered=True, counter=1)           # another key's counter runs apart
        other.extra["protection"].kind = "ded"
        assert iot.gateway.invoke_method(CUT_OFF, axdr.octet_string(tid), other).value == 0
        with pytest.raises(CosemError):                                 # the first key's replay is still refused
            iot.gateway.invoke_method(RECONNECT, axdr.octet_string(tid), _gateway_ctx(run, ciphered=True, counter=6))
        assert iot.gateway.invoke_method(RECONNECT, axdr.octet_string(tid),
                                         _gateway_ctx(run, ciphered=True, counter=7)).value == 0
    finally:
        iot.external = saved
