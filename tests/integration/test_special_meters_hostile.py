"""Bad input around special meters (issue 11 "Bad input"): a 5th special-meter terminal, a special
meter lying about its ID or its clock, malformed ECHONET from the special meter, and forged,
replayed or malformed COSEM frames from an (authenticated) hostile terminal. Each is refused and
logged (alarmed where an ID or clock is wrong); the meter keeps serving and its own 30-min values
stay what the load model gives."""
from sumame.firmware.core.events import Severity
from sumame.firmware.routes.iot import codec as c
from sumame.firmware.routes.iot import special_cosem as sc
from sumame.tools.fleet.specialmeters import SpecialScenario, run_scenario

QUIET = dict(outage=None, cutoff=None, clock_error_s=0.0)


def _iot(res):
    return next(x for x in res.fleet.meter(0).services if x.name == "iot-route")


def _events(res, kind):
    return [e for e in res.fleet.meter(0).events.recent(10_000) if e.kind == kind]


def _stored(res, meter_id: bytes) -> int:
    return res.hes.store.db.execute("SELECT COUNT(*) FROM special_registers WHERE special=?",
                                    (meter_id.hex().upper(),)).fetchone()[0]


def _own_values_match_the_model(res) -> int:
    site, n = res.fleet.site, 0
    for row in res.hes.store.intervals(None, 30):
        imp, exp = site.energy_wh(lambda t: site.net_w(t, res.fleet.site_keys[:res.scenario.meters]),
                                  row["end_at"] - 1800, row["end_at"])
        assert abs(row["forward_wh"] - imp) <= 10.0 and abs(row["reverse_wh"] - exp) <= 10.0, row
        n += 1
    return n


def test_a_fifth_special_meter_terminal_is_refused_and_logged():
    res = run_scenario(SpecialScenario(days=0.15, meters=4, extra_terminals=1, **QUIET))
    try:
        fifth = res.fleet.terminals[4]
        assert not fifth.node.joined and all(t.node.joined for t in res.fleet.terminals[:4])
        refused = _events(res, "iot-special-limit")
        assert refused and refused[0].severity is Severity.ALARM and "SPT00005" in refused[0].detail
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] > 0 and fig["terminals_refused"] >= 1
        assert _stored(res, fifth.spec.expected_id) == 0
    finally:
        res.fleet.close()


def test_a_special_meter_lying_about_its_id_is_refused_and_alarmed():
    liar_id = bytes.fromhex("0a0b0c0d0e0f01")

    def prepare(fleet):
        fleet.meters[1].spec.lie_id = liar_id
    res = run_scenario(SpecialScenario(days=0.25, meters=2, **QUIET), prepare)
    try:
        liar_terminal = res.fleet.terminals[1]
        assert liar_terminal.stats["event-special-meter-id-mismatch"] >= 5       # every read refused
        alarms = _events(res, "iot-special-meter-id-mismatch")
        assert alarms and alarms[0].severity is Severity.ALARM
        assert _stored(res, liar_id) == 0 and _stored(res, res.fleet.meters[1].spec.device_id) == 0
        assert _stored(res, res.fleet.meters[0].spec.device_id) >= 10           # the honest one still flows
        assert _own_values_match_the_model(res) >= 4
    finally:
        res.fleet.close()


def test_a_special_meter_clock_that_ignores_the_setting_is_a_clock_fault():
    def prepare(fleet):
        m = fleet.meters[1]
        m.spec.lie_clock_s = 4000.0
        m.offset = 4000.0
        m._schedule()
    res = run_scenario(SpecialScenario(days=0.25, meters=2, **QUIET), prepare)
    try:
        t = res.fleet.terminals[1]
        assert t.meter_clock_bad and t.stats["event-special-meter-clock-fault"] >= 1
        alarms = _events(res, "iot-special-meter-clock-fault")
        assert alarms and alarms[0].severity is Severity.ALARM
        assert _stored(res, res.fleet.meters[1].spec.device_id) == 0        # no value under a wrong clock
        assert _stored(res, res.fleet.meters[0].spec.device_id) >= 10
    finally:
        res.fleet.close()


def test_malformed_echonet_from_the_special_meter_is_logged_and_the_gap_filled_later():
    def prepare(fleet):
        m = fleet.meters[1]
        honest = m.exchange
        broken = {"on": False}
        m.exchange = lambda data: [b"\x10\x81\x00\x01\x02\x8e\x01\x05\xff\x01\x72\x05\xd1"] if broken["on"] else honest(data)
        tl = fleet.world.timeline
        tl.call_at(fleet.start + 2 * 3600, lambda: broken.update(on=True))
        tl.call_at(fleet.start + 4 * 3600, lambda: broken.update(on=False))
    res = run_scenario(SpecialScenario(days=0.3, meters=2, **QUIET), prepare)
    try:
        t = res.fleet.terminals[1]
        assert t.stats["echonet-malformed"] >= 3 and t.stats["gap-filled"] >= 3
        assert _events(res, "iot-special-meter-read-failed")
        fig = res.figures()
        assert fig["slots_delivered"] == fig["slots_expected"] and fig["slots_duplicates"] == 0
    finally:
        res.fleet.close()


def test_forged_replayed_and_malformed_terminal_frames_are_refused_and_the_meter_keeps_serving():
    sent = {}

    def attack(fleet):
        t = fleet.terminals[1]
        now = fleet.clock.now()
        mid = t.spec.expected_id
        slot = int(now // 1800 * 1800)
        forged = sc.SpecialValues(bytes.fromhex("0102030405aa01"), 3, 1, 0x027E, (sc.Slot(slot, 1, 1),)).encode()
        future = sc.SpecialValues(mid, 3, 1, 0x027E, (sc.Slot(slot + 86400, 1, 1),)).encode()
        replay = sc.SpecialValues(mid, 3, 1, 0x027E, tuple(sc.Slot(s, *t.store[s]) for s in sorted(t.acked)[:4])).encode()
        sent["replayed"] = sorted(t.acked)[:4]
        gas = c.Values(c.KIND_GAS, slot // 3600 * 3600, ((1, 0),)).encode()
        for i, (mtype, body) in enumerate([(c.SPECIAL_VALUES, forged), (c.SPECIAL_VALUES, future),
                                           (c.SPECIAL_VALUES, replay), (c.SPECIAL_VALUES, b"\x02\x05\xff"),
                                           (c.SPECIAL_EVENT, b"\x00" * 9), (c.VALUES, gas),
                                           (c.READ, b"\x00\x01")]):
            t.node.send_app(c.encode(mtype, 40000 + i, body))
        sent["at"] = now

    def prepare(fleet):
        fleet.world.timeline.call_at(fleet.start + 3 * 3600 + 600, attack, fleet)
    res = run_scenario(SpecialScenario(days=0.3, meters=2, **QUIET), prepare)
    try:
        iot = _iot(res)
        assert sent["replayed"], "the terminal had acknowledged slots to replay"
        assert iot.stats["special-id-refused"] >= 1 and _events(res, "iot-special-id")[0].severity is Severity.ALARM
        assert iot.stats["special-bad-clock"] >= 1 and _events(res, "iot-special-clock")
        assert iot.stats["special-duplicate"] >= len(sent["replayed"])
        assert len(_events(res, "iot-malformed")) >= 3                 # COSEM garbage, bad event, gas VALUES
        assert _events(res, "iot-refused")                             # READ: terminals may not ask the meter
        assert _stored(res, bytes.fromhex("0102030405aa01")) == 0
        fig = res.figures()
        assert fig["slots_duplicates"] == 0 and fig["slots_delivered"] == fig["slots_expected"]
        late = res.hes.store.db.execute("SELECT COUNT(*) FROM special_registers WHERE end_at > ?",
                                        (sent["at"],)).fetchone()[0]
        assert late >= 2 * 6                                           # both terminals kept flowing
        assert _own_values_match_the_model(res) >= 5                   # the meter's own values untouched
    finally:
        res.fleet.close()
