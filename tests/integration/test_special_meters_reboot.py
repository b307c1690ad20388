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
