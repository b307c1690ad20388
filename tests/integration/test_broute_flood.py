"""Non-interference in virtual time: the seeds' reference load (one client every 10 s, one every
30 s, one every 30 min) keeps 100 % answers with low latency while another device floods at
1000 frames/s — either a fourth device (refused by the client limit) or an admitted client gone
haywire (rate-limited, then blocked as a DoS) — and the metering task keeps its 1-s tick.

The meter's CPU is modelled: each frame advances the virtual clock by what handling it costs
(2 ms to answer, 20 us to drop at the guard), so work done for the flood really delays the
other tasks. The same scenario without the guard shows the reference clients losing answers,
which is what makes the protected run a real proof."""
import pytest

from sumame.firmware.routes.broute.guard import GuardOptions
from sumame.tools.hems.broute_load import REFERENCE, run_scenario


def _p99(values):
    values = sorted(values)
    return values[int(0.99 * (len(values) - 1))]


@pytest.mark.parametrize("max_clients, flooder", [(3, "refused fourth device"),
                                                  (4, "admitted client")])
def test_reference_clients_get_every_answer_while_one_floods(max_clients, flooder):
    results, lateness, svc, medium = run_scenario(GuardOptions(max_clients=max_clients),
                                                  flooder_first=max_clients == 4)
    for name, period in REFERENCE:
        answers = results[name]
        assert answers and all(a is not None for a in answers), name
        assert _p99(answers) < 0.05, (name, _p99(answers))
    assert len(results["vpp"]) > 180 and len(results["ppa"]) == 2
    assert max(lateness) < 0.02                       # metering tick never more than 20 ms late
    dropped = sum(svc.counters[k] for k in ("blocked", "rate-limited", "refused"))
    assert dropped > 110_000
    if max_clients == 3:
        refusals = svc.events.of_kind("b-route-refused")    # logged once a minute, counted always
        assert 1 <= len(refusals) <= 3 and all("flood" in e.detail for e in refusals)
        assert svc.guard.counters["refused"] > 110_000
    else:
        assert svc.guard.counters["dos-detected"] >= 1 and svc.events.of_kind("dos-detected")
    assert medium.dropped_full == 0


def test_without_the_guard_the_same_flood_starves_the_reference_clients():
    open_door = GuardOptions(rate_per_s=1e9, burst=1e9, max_clients=4)
    results, lateness, svc, medium = run_scenario(open_door, flood_s=60.0)
    lost = sum(a is None for name, _ in REFERENCE for a in results[name])
    assert lost > 0 or max(a for n, _ in REFERENCE for a in results[n] if a is not None) > 0.05
    assert medium.dropped_full > 0
