"""Independent audit of issue 10 (Bad input: "a terminal clock far off"): hourly values stamped
by a terminal clock far in the future or the past must be refused by the meter and logged, not
carried to the connection server, where a future-stamped value would be delivered to the company
as real and would later make the true value of that hour look like a duplicate."""
import pytest

from sumame.firmware.routes.iot import codec as c
from sumame.tools.fleet.jointread import JointReadScenario, setup_scenario

MIN, HOUR, DAY = 60, 3600, 86400


@pytest.fixture(scope="module")
def run():
    def add(world):
        world.add_terminal("SKEWED01", "water")

    r = setup_scenario(JointReadScenario(days=1, gas=1, water=1, relay_share=0.0, outage=None,
                                         valves_per_day=0, alarms=False, lossy_link=False), before_boot=add)
    r.run_for(15 * MIN)
    skewed = r.world.terminal("SKEWED01")
    assert skewed.node.joined
    skewed.node.role = "end"                    # stays awake to hear every answer
    r.got = []
    skewed.node.on_app = r.got.append
    yield r
    r.fleet.close()


def _ack(run, msg_id):
    acks = [c.parse_ack(c.decode(m).body) for m in run.got if c.decode(m).type == c.ACK]
    return [status for mid, status in acks if mid == msg_id]


def _events(run, kind):
    return [e for e in run.fleet.meter(0).events if e.kind == kind]


@pytest.mark.parametrize("offset_s, msg_id", [(2 * DAY, 911), (-400 * DAY, 912)])
def test_values_stamped_by_a_clock_far_off_are_refused_and_logged(run, offset_s, msg_id):
    skewed = run.world.terminal("SKEWED01")
    hour = int(run.fleet.clock.now()) // HOUR * HOUR + offset_s
    before = len(_events(run, "iot-values-time"))
    skewed.node.wake()
    skewed.node.send_app(c.encode(c.VALUES, msg_id, c.Values(c.KIND_WATER, hour, ((4242, 0), (4243, 0))).encode()))
    run.run_for(5 * MIN)
    assert _ack(run, msg_id) and c.ERR_NONE not in _ack(run, msg_id), "values of a far-off clock were accepted"
    assert (skewed.spec.tid, hour) not in run.server.values
    assert len(_events(run, "iot-values-time")) == before + 1
    assert not any(u.terminal_id == skewed.spec.tid and u.msg_type == c.VALUES for _, _, u in run.iot.uplink)


def test_values_of_the_last_days_are_still_accepted(run):
    skewed = run.world.terminal("SKEWED01")
    hour = int(run.fleet.clock.now()) // HOUR * HOUR - 3 * DAY
    skewed.node.wake()
    skewed.node.send_app(c.encode(c.VALUES, 913, c.Values(c.KIND_WATER, hour, ((5151, 0),)).encode()))
    run.run_for(5 * MIN)
    assert _ack(run, 913) == [c.ERR_NONE]
    assert run.server.values[(skewed.spec.tid, hour)][:2] == (5151, 0)
