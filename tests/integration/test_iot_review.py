"""Independent review of the IoT route (issue 10): attacks by a hostile terminal that the first
test set did not try, and checks of the joint-reading numbers against the terminals' own records."""
import pytest
from iot_rogue import run_with_listening_terminal

from sumame.drivers.emulated.iot.ehan_mac import PANA_PORT
from sumame.firmware.net import lowpan
from sumame.firmware.net.pana_codec import PCI, PanaMessage
from sumame.firmware.routes.iot import app as iot_app
from sumame.firmware.routes.iot import codec as c
from sumame.tools.fleet.jointread import JointReadScenario, run_scenario, setup_scenario

MIN, HOUR = 60, 3600


@pytest.fixture(scope="module")
def run():
    r = run_with_listening_terminal("HOSTILE1", gas=2, water=2, relay_share=0.5)
    yield r
    r.fleet.close()


def _acks(run):
    return [c.parse_ack(c.decode(m).body) for m in run.got if c.decode(m).type == c.ACK]


def test_hello_cannot_change_the_allow_listed_kind(run):
    """A water terminal that says HELLO as a gas terminal must not get its data routed to the
    gas company (the kind comes from the allow-list, not from the terminal)."""
    hostile = run.world.terminal("HOSTILE1")
    now = int(run.fleet.clock.now())
    hour = now // HOUR * HOUR - 5 * HOUR
    hostile.node.wake()
    hostile.node.send_app(c.encode(c.HELLO, 901, c.Hello(c.KIND_GAS, b"\x00" * 6, now).encode()))
    run.run_for(5)
    hostile.node.send_app(c.encode(c.VALUES, 902, c.Values(c.KIND_GAS, hour, ((123, 0),)).encode()))
    run.run_for(5 * MIN)
    assert run.iot.by_id[b"HOSTILE1"].kind == c.KIND_WATER
    assert (902, c.ERR_NONE) not in _acks(run)
    assert run.server.kind_of.get(b"HOSTILE1") != c.KIND_GAS
    assert (b"HOSTILE1", hour) not in run.companies["gas"].received


@pytest.mark.parametrize("hops", [1, 2])
def test_spoofed_pana_start_cannot_end_another_terminals_session(run, hops):
    """A hostile terminal sends an unsecured PANA-Client-Initiation with a victim's EUI-64: the
    victim's established session (and its traffic) must survive; only a successful
    authentication may replace it."""
    coord = run.world.coordinator
    hostile = run.world.terminal("HOSTILE1")
    victim = next(t for t in run.world.terminals if t.spec.terminal_id != "HOSTILE1" and run.world.hops(t) == hops
                  and t.node.joined)
    before = coord.peers[victim.spec.mac]
    key_before = before.key
    pci = PanaMessage(PCI, 0, 0, 0).encode()
    psdu = hostile.node._psdu(PANA_PORT, lowpan.link_local(coord.mac), PANA_PORT, pci, coord.mac, None,
                              src_mac=victim.spec.mac)
    hostile.node.wake()
    run.world.air.transmit(hostile.node, psdu)
    run.run_for(5 * MIN)
    peer = coord.peers.get(victim.spec.mac)
    assert peer is not None and peer.key is key_before and peer.via == before.via
    assert run.iot.by_id[victim.spec.tid].joined
    heard = victim.stats["rx-time"]
    run.run_for(12 * MIN)                       # the victim's polls are still answered (TIME ≤ every 300 s)
    assert victim.stats["rx-time"] > heard
    assert victim.stats["lost"] == 0


def test_one_terminal_cannot_fill_the_uplink_queue_and_crowd_out_alarms(run, monkeypatch):
    """While the A-route is down, a terminal sending VALUES at its permitted rate must not take the
    whole uplink queue: another terminal's alarm still gets queued and delivered."""
    monkeypatch.setattr(iot_app, "MAX_UPLINK", 40)
    iot = run.iot
    aroute = next(s for s in run.fleet.meter(0).services if s.name == "a-route")
    hostile = run.world.terminal("HOSTILE1")
    victim = run.world.terminal("WTR00003")
    aroute.up = False
    try:
        hour = int(run.fleet.clock.now()) // HOUR * HOUR - 30 * 24 * HOUR
        for i in range(50):
            hostile.node.wake()
            hostile.node.send_app(c.encode(c.VALUES, 1000 + i,
                                           c.Values(c.KIND_WATER, hour + i * HOUR, ((i, 0),)).encode()))
            run.run_for(3)
        victim.raise_alarm(c.ALARM_ABNORMAL_FLOW)
        run.run_for(3 * MIN)
        queued = [u for _, _, u in iot.uplink]
        assert any(u.terminal_id == victim.spec.tid and u.msg_type == c.ALARM for u in queued)
        assert sum(u.terminal_id == b"HOSTILE1" for u in queued) < iot_app.MAX_UPLINK // 2
    finally:
        aroute.up = True
    run.run_for(3 * MIN)
    assert any(a["terminal"] == "WTR00003" and a["alarm"] == "abnormal-flow"
               for a in run.companies["water"].alarms)


def test_ten_water_terminals_and_a_relay_are_all_admitted():
    """``--gas 0 --water 10`` is 10 metering devices: the relay that carries some of them is
    network equipment and must not take one of the 10 places (reference §1.2: 10 IoT devices =
    gas/water/special meters)."""
    r = setup_scenario(JointReadScenario(days=1, gas=0, water=10, relay_share=0.34, outage=None,
                                         valves_per_day=0, alarms=False, lossy_link=False))
    try:
        r.run_for(20 * MIN)
        assert r.world.relay is not None and r.world.relay.node.joined
        assert all(t.node.joined for t in r.world.terminals), [t.spec.terminal_id for t in r.world.terminals
                                                               if not t.node.joined]
        assert not [e for e in r.fleet.meter(0).events if e.kind == "iot-device-limit"]
    finally:
        r.fleet.close()


def test_every_value_reaches_its_company_once_and_equals_the_terminals_record():
    """Independent of the tool's counters: each company's batches against each terminal's store."""
    r = run_scenario(JointReadScenario(days=1, gas=1, water=1, relay_share=0.5, outage=(0.3, 5.0),
                                       valves_per_day=0, alarms=False, tail_s=8 * HOUR))
    try:
        rows = {}
        for co in r.server.companies.values():
            for _, batch in co.batches:
                for tid, hour, litres, flags in batch:
                    rows.setdefault((tid, hour), []).append((co.kind, litres, flags))
        for t in r.world.terminals:
            for hour in range(int(r.start + HOUR), int(r.start + 86400) + 1, HOUR):
                got = rows.get((t.spec.tid, hour))
                assert got is not None and len(got) == 1, (t.spec.terminal_id, hour, got)
                kind, litres, flags = got[0]
                assert kind == t.kind and (litres, flags) == t.store[hour], (t.spec.terminal_id, hour)
    finally:
        r.fleet.close()


def test_relay_tunnel_naming_another_source_is_dropped(run):
    """A (hostile) relay that wraps a frame of one terminal under another terminal's EUI-64."""
    from sumame.drivers.emulated.iot.ehan_mac import RELAY_PORT
    coord, relay = run.world.coordinator, run.world.relay
    a, b = [t for t in run.world.terminals if t.spec.terminal_id != "HOSTILE1"][:2]
    inner = a.node._psdu(c.APP_PORT, lowpan.link_local(coord.mac), c.APP_PORT, c.encode(c.POLL, 7, c.poll_body(0, 0)),
                         coord.mac, None)
    before = coord.stats["drop-relay tunnel names another source than the frame it carries"]
    relay.node.send_raw(coord.mac, RELAY_PORT, b.spec.mac + inner)
    run.run_for(10)
    assert coord.stats["drop-relay tunnel names another source than the frame it carries"] == before + 1


def test_stale_or_future_valve_command_is_refused(run):
    """A correctly sealed command with a fresh counter but issued long ago (held back on the
    path and released later) or far in the future must not move the valve."""
    from sumame.drivers.emulated.iot.terminal import COMMAND_TTL_S
    server = run.server
    term = run.world.terminal("GAS00001")
    assert term.valve_open
    now = int(run.fleet.clock.now())
    for k, at in enumerate((now - 2 * 86400, now + 2 * 86400)):
        counter = term.last_counter + 1 + k
        blob = c.SealedCommand(term.spec.tid, counter, c.OP_CLOSE, at).seal(term.spec.cmd_key)
        server.scheduler.spawn(server.raw_command(term.spec.tid, blob), name="raw", group="jointread")
        run.run_for(3 * MIN)
        assert term.valve_open, f"command issued at {at - now:+d} s was obeyed"
    assert term.stats["cmd-expired"] == 2
    assert COMMAND_TTL_S <= 3600
    # a fresh one still works (the company's counter moved past the refused ones)
    run.companies["gas"].counters[term.spec.tid] = term.last_counter + 10
    fresh = c.SealedCommand(term.spec.tid, term.last_counter + 20, c.OP_CLOSE, now + 6 * MIN).seal(term.spec.cmd_key)
    server.scheduler.spawn(server.raw_command(term.spec.tid, fresh), name="raw", group="jointread")
    run.run_for(3 * MIN)
    assert not term.valve_open


def test_metering_minutes_stay_on_time_while_the_iot_route_is_hammered(run):
    """Floods, garbage, oversized and truncated frames and spoofed PANA starts for 10 minutes:
    every minute snapshot is still taken on its boundary and the head-end still reads the meter."""
    import random
    from tests.integration.test_iot_security import call
    meter = run.fleet.meter(0)
    coord, hostile = run.world.coordinator, run.world.terminal("HOSTILE1")
    seen = []
    original = meter.metering.on_snapshot

    def spy(snap):
        seen.append((snap.minute if hasattr(snap, "minute") else None, run.fleet.clock.now()))
        original(snap)

    meter.metering.on_snapshot = spy
    rng = random.Random(5)
    try:
        for second in range(0, 600, 2):
            hostile.node.wake()
            run.world.air.transmit(hostile.node, bytes(rng.randrange(256) for _ in range(rng.choice((3, 40, 2000)))))
            hostile.node.send_app(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300))))
            hostile.node.send_app(c.encode(c.VALUES, second, b"\x02\x00\x00")[:rng.randrange(1, 8)])
            fake = bytes([0, 0x1d, 0x12, 0xee]) + rng.randbytes(4)
            pci = hostile.node._psdu(PANA_PORT, lowpan.link_local(coord.mac), PANA_PORT,
                                     PanaMessage(PCI, 0, 0, 0).encode(), coord.mac, None, src_mac=fake)
            run.world.air.transmit(hostile.node, pci)
            run.run_for(2)
    finally:
        meter.metering.on_snapshot = original
    times = [t for _, t in seen]
    assert len(times) >= 9
    assert all(abs(t - round(t / 60) * 60) < 2.0 for t in times), times          # on the minute
    assert all(55 <= b - a <= 65 for a, b in zip(times, times[1:])), times     # none skipped
    status = call(run, run.hes.poll(f"inproc://{run.fleet.serials[0]}"))
    assert status["forward_total_kwh"] is not None
    assert len(coord.peers) + len(coord.pending) <= 16                          # no state per spoofed address
    assert len(coord._bucket) <= 64 + 1, len(coord._bucket)
    assert len(run.iot.traffic) <= 200, len(run.iot.traffic)


def test_a_company_cannot_command_another_companys_terminal(run):
    """A water company sending a valve command to a gas terminal: refused and logged at the
    connection server, never sealed or sent (it used to raise from the key lookup)."""
    water = run.companies["water"]
    gas_tid = next(t for t in run.companies["gas"].keys)
    sent_before = len(run.server.commands)
    box = []

    async def send():
        box.append(await run.server.valve(water, gas_tid, c.OP_CLOSE))
    run.fleet.scheduler.spawn(send(), name="wrong-company")
    run.run_for(1)
    cmd = box[0]
    assert not cmd.ok and "is not a terminal of" in cmd.detail and cmd.counter == 0
    assert len(run.server.commands) == sent_before + 1
    assert water.counters.get(gas_tid, 0) == 0
