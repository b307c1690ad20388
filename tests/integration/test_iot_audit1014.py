"""Independent audit of issue 10 (Bad input: "a terminal clock far off"): hourly values stamped
by a terminal clock far in the future or the past must be refused by the meter and logged, not
carried to the connection server, where a future-stamped value would be delivered to the company
as real and would later make the true value of that hour look like a duplicate."""
import pytest
from iot_rogue import run_with_listening_terminal

from sumame.firmware.routes.iot import codec as c
from sumame.tools.fleet.jointread import JointReadScenario, setup_scenario

MIN, HOUR, DAY = 60, 3600, 86400


@pytest.fixture(scope="module")
def run():
    r = run_with_listening_terminal("SKEWED01", gas=1, water=1, relay_share=0.0)
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


def test_a_refused_eleventh_device_cannot_flood_the_journalled_event_log():
    """The 11th device keeps asking to join (as a real one would, or an attacker on purpose).
    Each refusal is counted, but the meter's event log (16 flash pages, shared with power, switch
    and security events) must not get one entry per attempt, or a day of refusals rotates the
    meter's real history out of flash."""
    def add(world):
        for i in range(8):                          # 2 + 8 = 10 devices (+ the relay)
            world.add_terminal(f"FILL{i:04d}", "water")
        world.add_terminal("ELEVENTH", "water", start=False)

    r = setup_scenario(JointReadScenario(days=1, gas=1, water=1, relay_share=0.0, outage=None,
                                         valves_per_day=0, alarms=False, lossy_link=False), before_boot=add)
    try:
        r.run_for(15 * MIN)
        r.world.late[0].start()
        r.run_for(6 * HOUR)
        attempts = r.iot.stats["event-iot-device-limit"]
        logged = [e for e in r.fleet.meter(0).events if e.kind == "iot-device-limit"]
        assert attempts >= 50, attempts                     # it did keep trying, every attempt counted
        assert logged and "ELEVENTH" in logged[0].detail
        assert len(logged) <= 15, f"{len(logged)} events for {attempts} refusals in 6 h"
        assert "not logged" in logged[-1].detail            # the next entry says how many were held back
    finally:
        r.fleet.close()
