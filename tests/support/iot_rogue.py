"""A jointread run with one extra terminal under the test's control (a hostile or skewed one),
joined and kept awake so the test hears every answer the meter sends it."""
from sumame.tools.fleet.jointread import JointReadScenario, setup_scenario

MIN = 60


def run_with_listening_terminal(tid: str, *, gas: int, water: int, relay_share: float):
    """Set up a 1-day run with terminal ``tid`` (water) added, run 15 simulated min until it has
    joined; the run's ``got`` list collects every application message it receives."""
    def add(world):
        world.add_terminal(tid, "water")

    r = setup_scenario(JointReadScenario(days=1, gas=gas, water=water, relay_share=relay_share, outage=None,
                                         valves_per_day=0, alarms=False, lossy_link=False), before_boot=add)
    r.run_for(15 * MIN)
    term = r.world.terminal(tid)
    assert term.node.joined
    term.node.role = "end"                      # stays awake to hear every answer
    r.got = []
    term.node.on_app = r.got.append
    return r
