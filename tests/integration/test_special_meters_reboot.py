"""The smart meter reboots while a special-meter terminal still holds slots it believes were not
taken (the meter's ACK was lost on the radio): after the reboot the terminal sends them again and
each 30-min value must still reach the MDMS once (issue 11 §5 "reaches the MDMS once")."""
from sumame.firmware.routes.iot import codec as c
from sumame.tools.fleet.specialmeters import SpecialScenario, run_scenario

HOUR = 3600.0
QUIET = dict(outage=None, cutoff=None, clock_error_s=0.0)


def _lose_acks_then_reboot(fleet):
    term = fleet.terminals[0]
    t_lost, t_boot = fleet.start + 3 * HOUR, fleet.start + 3 * HOUR + 40 * 60
    real = term._on_app

    def on_app(payload):                    # the radio loses the meter's ACKs in [t_lost, t_boot)
        msg = c.decode(payload)
        if msg.type == c.ACK and t_lost <= fleet.clock.now() < t_boot:
            term.stats["test-ack-lost"] += 1
            return
        real(payload)
    term.node.on_app = on_app
    fleet.world.timeline.call_at(t_boot, lambda: fleet.mains(0).schedule_outage(fleet.clock.now() + 1, 120))


def test_slots_resent_after_a_meter_reboot_reach_the_mdms_once():
    res = run_scenario(SpecialScenario(days=0.4, meters=1, **QUIET), prepare=_lose_acks_then_reboot)
    try:
        term = res.fleet.terminals[0]
        assert term.stats["test-ack-lost"] >= 1, "the fault was injected"
        assert res.fleet.runtimes[0].extras["power"].reboots == 1
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0
        assert fig["slots_duplicates"] == 0, res.collector.copies.most_common(3)
    finally:
        res.fleet.close()


def test_a_meter_reboot_raises_no_false_authentication_alarm():
    """After a reboot the meter has no link session with its terminals: their frames under the old
    session are dropped (logged) until they re-authenticate — a normal reboot, not an attack."""
    res = run_scenario(SpecialScenario(days=0.3, meters=2, **QUIET),
                       prepare=lambda f: f.world.timeline.call_at(
                           f.start + 3 * HOUR, lambda: f.mains(0).schedule_outage(f.clock.now() + 1, 120)))
    try:
        assert res.fleet.runtimes[0].extras["power"].reboots == 1
        events = res.fleet.meter(0).events.recent(10_000)
        assert not [e for e in events if e.kind == "ext-auth-alarm"], [e.detail for e in events if "auth" in e.kind]
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0 and fig["slots_duplicates"] == 0
        ext = next(s for s in res.fleet.meter(0).services if s.name == "ext-security")
        assert all(t.node.joined for t in res.fleet.terminals)          # they came back
        assert ext.log.restored > 0
    finally:
        res.fleet.close()


def test_values_lost_on_the_a_route_are_fetched_again_by_the_mdms(monkeypatch):
    """The IoT pushes are unconfirmed datagrams: one lost on the way (or in the meter's RAM queue
    at a power cut) is a hole at the MDMS. The collector asks the terminal for the missing slots
    (HISTORY_REQUEST through the meter's gateway) and every value arrives once."""
    from sumame.tools.fleet import specialmeters as sm
    real = sm.FleetSpec
    monkeypatch.setattr(sm, "FleetSpec", lambda **kw: real(**kw, loss=0.08))
    res = run_scenario(SpecialScenario(days=1, meters=2, **QUIET))
    try:
        assert res.fleet.network.pushes_lost >= 1, "the fault was injected"
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0, res.collector.stats
        assert fig["slots_duplicates"] == 0
        assert res.collector.stats["gap-requests"] >= 1
    finally:
        res.fleet.close()


def test_missing_runs_are_exact_so_nothing_stored_is_asked_again():
    from types import SimpleNamespace

    from sumame.tools.hes.settlement import SLOT, SpecialCollector
    from sumame.tools.hes.db.store import HesStore
    hes = SimpleNamespace(store=HesStore(":memory:"), on_other_push=None)
    col = SpecialCollector(hes)
    db, t0 = hes.store.db, 1_775_000_000 // SLOT * SLOT
    db.execute("INSERT INTO special_meters VALUES ('AA','m1','SPT00001',0x0279,1,1,0)")
    for k in (0, 1, 3, 4, 7):                       # missing: 2, 5-6, and 8-9 up to the grace
        db.execute("INSERT INTO special_registers VALUES ('AA',?,1,1,0,0)", (t0 + k * SLOT,))
    runs = col.missing(t0 + 11 * SLOT + 5)
    assert runs == {("m1", "SPT00001"): [(t0 + 2 * SLOT, t0 + 2 * SLOT), (t0 + 5 * SLOT, t0 + 6 * SLOT),
                                         (t0 + 8 * SLOT, t0 + 9 * SLOT)]}


def test_values_queued_in_the_meter_at_a_power_cut_are_not_lost():
    """The head-end's push address is down for 40 min (the meter keeps the ACKed values in its RAM
    queue), then the meter loses power: the MDMS's gap fill gets them from the terminals again."""
    state = {}

    def prepare(fleet):
        net, t_down = fleet.network, fleet.start + 3 * HOUR

        def down():
            address = fleet.spec.hes_address
            state["sink"] = net._sinks.pop(address)
            state["address"] = address

        def cut():
            iot = next(s for s in fleet.meter(0).services if s.name == "iot-route")
            state["queued"] = sum(1 for _, _, u in iot.uplink if u.msg_type == c.SPECIAL_VALUES)
            fleet.mains(0).schedule_outage(fleet.clock.now() + 1, 120)

        def up():
            net._sinks[state["address"]] = state["sink"]
        fleet.world.timeline.call_at(t_down, down)
        fleet.world.timeline.call_at(t_down + 40 * 60, cut)
        fleet.world.timeline.call_at(t_down + 45 * 60, up)
    res = run_scenario(SpecialScenario(days=0.5, meters=2, **QUIET), prepare=prepare)
    try:
        assert state["queued"] >= 2, "values were waiting in the meter's RAM queue at the cut"
        assert res.fleet.runtimes[0].extras["power"].reboots == 1
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0, list(res.collector.log)[-5:]
        assert fig["slots_duplicates"] == 0
    finally:
        res.fleet.close()


def test_a_long_head_end_outage_gives_no_second_copies():
    """The push address is down for 2.5 h: the values wait in the meter's queue, the MDMS's gap
    fill asks for them meanwhile — the meter must not take the still-queued slots again."""
    state = {}

    def prepare(fleet):
        net, t_down = fleet.network, fleet.start + 3 * HOUR

        def down():
            state["sink"] = net._sinks.pop(fleet.spec.hes_address)

        def up():
            net._sinks[fleet.spec.hes_address] = state["sink"]
        fleet.world.timeline.call_at(t_down, down)
        fleet.world.timeline.call_at(t_down + 2.5 * HOUR, up)
    res = run_scenario(SpecialScenario(days=0.5, meters=2, **QUIET), prepare=prepare)
    try:
        assert res.collector.stats["gap-requests"] >= 1
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0
        assert fig["slots_duplicates"] == 0, res.collector.copies.most_common(2)
    finally:
        res.fleet.close()
