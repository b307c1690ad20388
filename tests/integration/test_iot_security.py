"""IoT route security: admission (allow-list, 10 devices, cut-off), separation from the
electricity side (hostile terminal), end-to-end sealed valve commands (bad tag, replay), uplink
priorities — on the emulated Enhanced HAN with the real meter, head-end and connection server."""
import pytest

from sumame.firmware.net import lowpan
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot.gateway import R_CUT_OFF
from sumame.tools.fleet.jointread import JointReadScenario, setup_scenario

MIN = 60


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


def events(run, kind):
    return [e for e in run.fleet.meter(0).events if e.kind == kind]


@pytest.fixture(scope="module")
def run():
    def add(world):
        world.add_terminal("HOSTILE1", "water")
        for i in range(5):                      # 4 terminals + hostile + 5 = 10 devices (+ the relay)
            world.add_terminal(f"FILL{i:04d}", "water")
        world.add_terminal("ELEVENTH", "water", start=False)
        world.add_terminal("OUTSIDER", "gas", allow=False)

    r = setup_scenario(JointReadScenario(days=1, gas=2, water=2, relay_share=0.25, outage=None,
                                         valves_per_day=0, alarms=False, lossy_link=False), before_boot=add)
    eleventh = r.world.late[0]                  # started late: it is the 11th to ask
    for t in r.world.outsiders:
        t.start()
    r.run_for(15 * MIN)
    eleventh.start()
    r.run_for(5 * MIN)
    r.eleventh = eleventh
    r.world.terminals.append(eleventh)
    yield r
    r.fleet.close()


def test_ten_devices_admitted_eleventh_and_outsider_refused_and_logged(run):
    iot = run.iot
    joined = [t for t in iot.terminals.values() if t.joined and t.kind != 0]
    assert len(joined) == 10                    # metering devices; the relay is not one of them
    assert iot.by_id[b"RELAY001"].joined
    assert not run.eleventh.node.joined
    assert events(run, "iot-device-limit"), "the 11th device must be refused with an event"
    assert "ELEVENTH" in events(run, "iot-device-limit")[0].detail
    assert not run.world.outsiders[0].node.joined
    assert events(run, "iot-unknown-terminal")
    assert any(r[4] == "unknown terminal" for r in iot.traffic_log)


def test_relayed_terminal_joined_through_the_relay(run):
    behind = [t for t in run.world.terminals if run.world.hops(t) == 2]
    assert behind and all(t.node.joined and t.node.hops == 2 for t in behind)
    assert run.world.relay.node.stats["relayed-up"] > 0
    assert not run.world.links.in_range(behind[0].node.mac, run.world.coordinator.mac)


def test_hostile_terminal_is_refused_everything_outside_its_own_uplink(run):
    meter = run.fleet.meter(0)
    hostile = run.world.terminal("HOSTILE1")
    victim = run.world.terminal("GAS00001")
    assert hostile.node.joined
    breaker_before = meter.switchgear.breaker.mode
    kwh_before = meter.readings.now()
    got = []
    hostile.node.on_app = got.append
    refused_before = len(events(run, "iot-refused"))
    dropped_before = run.iot.stats["radio-dropped"]
    node = hostile.node
    node.role = "end"                                       # stays awake to hear every answer
    node.wake()
    coord = run.world.coordinator.mac
    # 1. ask the meter for electricity data / the breaker (READ) and forge a valve command for the victim
    node.send_app(c.encode(c.READ, 1, (0x0E7).to_bytes(2, "big")))
    forged = c.SealedCommand(victim.spec.tid, 99, c.OP_CLOSE, 0).seal(bytes(16))
    node.send_app(c.encode(c.COMMAND, 2, forged))
    node.send_app(c.encode(c.HISTORY_REQUEST, 3, c.history_body(0, 3600)))
    # 2. reach the B-route's ECHONET Lite port through the IoT route
    node.send_raw(coord, 3610, bytes.fromhex("1081000105ff010288016201e700"))
    # 3. address another terminal through the meter (IPv6 destination = the victim)
    node.send_raw(coord, c.APP_PORT, c.encode(c.POLL, 4, c.poll_body(0, 0)), dst_ip=lowpan.link_local(victim.spec.mac))
    # 4. talk to the victim directly over the air
    victim_rx = victim.node.stats["rx-app"]
    node.send_raw(victim.spec.mac, c.APP_PORT, c.encode(c.COMMAND, 5, forged))
    # 5. malformed application data
    node.send_app(b"\x01\x10\x00\x06\xff")
    run.run_for(30)
    refusals = [m for m in got if c.decode(m).type == c.ACK]
    codes = sorted(c.parse_ack(c.decode(m).body)[1] for m in refusals)
    assert codes.count(c.ERR_NOT_ALLOWED) == 3 and c.ERR_MALFORMED in codes
    assert not any(c.decode(m).type in (c.VALUES, c.COMMAND) for m in got)
    assert len(events(run, "iot-refused")) >= refused_before + 3
    assert run.iot.stats["radio-dropped"] >= dropped_before + 2
    reasons = [r[4] for r in run.iot.traffic_log if r[1] == "HOSTILE1"]
    assert any("port 3610" in x for x in reasons)
    assert any("another node" in x for x in reasons)
    assert victim.node.stats["rx-app"] == victim_rx            # nothing reached the victim
    assert victim.valve_open
    assert meter.switchgear.breaker.mode == breaker_before
    run.run_for(2 * MIN)
    assert meter.readings.now() > kwh_before                   # metering kept running


def test_replayed_link_frame_is_dropped_and_logged(run):
    hostile = run.world.terminal("HOSTILE1")
    captured = []
    orig = hostile.node._on_air

    def tap(psdu):
        captured.append(psdu)
        return orig(psdu)

    hostile.node._on_air = tap
    hostile.node.send_app(c.encode(c.POLL, 9, c.poll_body(int(run.fleet.clock.now()), 900)))
    run.run_for(5)
    hostile.node._on_air = orig
    data = [p for p in captured if len(p) > 5]
    before = run.world.coordinator.stats["rx-replayed-frame"]
    run.world.coordinator._last_rx.clear()              # a later replay, not a MAC retransmission
    run.world.air.transmit(hostile.node, data[0])
    run.run_for(5)
    assert run.world.coordinator.stats["rx-replayed-frame"] == before + 1
    assert any("replayed" in r[4] for r in run.iot.traffic_log if r[1] == "HOSTILE1")


def test_flooding_terminal_is_limited_and_the_a_route_keeps_serving(run):
    hostile = run.world.terminal("HOSTILE1")
    for i in range(120):
        hostile.node.send_app(c.encode(c.POLL, 100 + i, c.poll_body(int(run.fleet.clock.now()), 900)))
    run.run_for(60)
    assert run.iot.stats["event-iot-flood"] > 0
    status = call(run, run.hes.poll(f"inproc://{run.fleet.serials[0]}"))
    assert status["forward_total_kwh"] is not None


def test_valve_command_round_trip_replay_and_bad_tag(run):
    server, gas = run.server, run.companies["gas"]
    term = run.world.terminal("GAS00001")
    cmd = call(run, server.valve(gas, term.spec.tid, c.OP_CLOSE))
    run.run_for(5 * MIN)
    assert cmd.ok and not term.valve_open, cmd.detail
    assert cmd.done_at - cmd.sent_at < 180
    # the same sealed command again (replay) and one with a flipped byte (bad tag)
    counter, blob = cmd.counter, c.SealedCommand(term.spec.tid, cmd.counter, c.OP_OPEN, 0).seal(term.spec.cmd_key)
    call(run, server.raw_command(term.spec.tid, blob))
    tampered = bytearray(c.SealedCommand(term.spec.tid, counter + 5, c.OP_OPEN, 0).seal(term.spec.cmd_key))
    tampered[-1] ^= 0x40
    call(run, server.raw_command(term.spec.tid, bytes(tampered)))
    run.run_for(5 * MIN)
    assert not term.valve_open
    assert term.stats["cmd-replay"] == 1 and term.stats["cmd-bad-tag"] == 1
    assert term.last_counter == counter
    # logged at every hop: server, head-end command store, meter event log, terminal log
    assert any("valve close" in text for _, text in server.log)
    assert any(row["op"] == "iot-command" for row in run.hes.store.commands())
    assert events(run, "iot-command")
    assert any("replay" in text for _, text in term.log)


def test_cut_off_terminal_is_refused_then_reconnected(run):
    server, gas = run.server, run.companies["gas"]
    term = run.world.terminal("GAS00002")
    assert term.node.joined
    ok, _ = call(run, server.cut_off(term.spec.tid))
    assert ok
    cmd = call(run, server.valve(gas, term.spec.tid, c.OP_CLOSE))
    assert not cmd.ok and f"{R_CUT_OFF}" in cmd.detail or "cut off" in cmd.detail
    run.run_for(30 * MIN)
    assert not run.iot.by_id[term.spec.tid].joined          # its rejoins are refused
    assert any(r[4] == "cut off" for r in run.iot.traffic_log if r[1] == "GAS00002")
    assert term.valve_open
    if run.iot.by_id[b"ELEVENTH"].joined:                   # it took the freed slot: cut it off instead
        run.server.meter_of[b"ELEVENTH"] = run.server.meter_of[term.spec.tid]
        assert call(run, server.cut_off(b"ELEVENTH"))[0]
    ok, _ = call(run, server.cut_off(term.spec.tid, cut=False))
    run.run_for(15 * MIN)
    assert ok and run.iot.by_id[term.spec.tid].joined


def test_alarms_go_ahead_of_batches(run):
    iot, aroute = run.iot, next(s for s in run.fleet.meter(0).services if s.name == "a-route")
    seen = []
    original = run.server.on_push

    def spy(m, body):
        seen.extend(int(rec.value[2].value) for rec in body[2].value)
        original(m, body)

    run.hes.on_other_push = spy
    aroute.up = False                                       # the A-route is down for a while
    water = run.world.terminal("WTR00003")
    now = int(run.fleet.clock.now()) // 3600 * 3600
    water.send_history(now - 6 * 3600, now, keep=True)
    run.run_for(2 * MIN)
    water.raise_alarm(c.ALARM_ABNORMAL_FLOW)
    run.run_for(2 * MIN)
    assert len(iot.uplink) >= 2
    aroute.up = True
    run.run_for(2 * MIN)
    run.hes.on_other_push = original
    assert seen and seen[0] == c.ALARM and c.VALUES in seen


def test_terminal_clocks_far_off_are_corrected_and_logged(run):
    assert any("clock" in e.detail and "corrected" in e.detail for e in events(run, "iot-clock-corrected"))
    now = run.fleet.clock.now()
    joined = [t for t in run.world.terminals if t.node.joined and t.spec.terminal_id != "HOSTILE1"]
    assert joined and all(abs(t.local_now() - now) < 5 for t in joined)
    assert max(abs(t.spec.clock_offset_s) for t in run.world.terminals) > 60      # they started far off


def test_terminal_table_through_the_head_end(run):
    table = call(run, run.server.terminal_table(f"inproc://{run.fleet.serials[0]}"))
    assert table["GAS00001"]["joined"] and table["GAS00001"]["kind"] == 1
    assert table["RELAY001"]["kind"] == 0 and table["RELAY001"]["hops"] == 1
    behind = [t.spec.terminal_id for t in run.world.terminals if run.world.hops(t) == 2]
    assert all(table[b]["hops"] == 2 for b in behind)
