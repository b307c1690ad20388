"""A fleet meter that loses its supply twice, and other meters' outages after that (issue 15
bad input: the sharded run differed from one process after a meter's second outage).

After its first outage a meter boots again from inside its emulated mains' task. If the tasks
of that boot joined the mains' group, the meter's second power cut (PowerCut escaping one of
them kills its group) stopped the mains of every meter: no second reboot, and no outage at all
for the other meters from then on."""
from sumame.tools.fleet.fleet import FleetSpec, build_fleet

HOUR = 3600.0


def test_every_planned_outage_takes_the_meter_down_and_brings_it_back():
    fleet = build_fleet(FleetSpec(meters=3, board="emulated-lv-fleet", seed=4))
    start = fleet.clock.now()
    plan = {0: [(start + 1 * HOUR + 17 * 60, 20 * 60), (start + 3 * HOUR + 7 * 60, 50 * 60)],
            1: [(start + 5 * HOUR + 1 * 60, 30 * 60)],
            2: [(start + 6 * HOUR + 3 * 60, 40 * 60), (start + 8 * HOUR, 10 * 60)]}
    for index, outages in plan.items():
        for at, seconds in outages:
            fleet.mains(index).schedule_outage(at, seconds)
    fleet.run(start + 10 * HOUR)
    for index, outages in plan.items():
        rt = fleet.runtimes[index]
        supervisor = rt.extras["power"]
        assert (supervisor.outages_done, supervisor.reboots, supervisor.meter_alive) == \
            (len(outages), len(outages), True), rt.config.identity.serial
    # a meter without hold-up is powered down the instant its line goes (no task of it runs on
    # the dead supply, so none dies of a PowerCut); any group that did die is a meter's, never
    # the emulated mains'
    assert all(str(g).startswith("meter:") for g in fleet.scheduler.dead_groups)
