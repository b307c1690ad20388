"""The scale-ray bench's CPU accounting: the CPU of this process's descendants (the Ray daemons
and workers a local ray.init starts) is read from /proc and split into shards (``ray::``
processes), driver (this process), Ray daemons (any other descendant) and other work on the
machine, so the printed "cores busy" evidence adds up."""
import subprocess
import sys
import time

import pytest

from sumame.tools.bench.scale import _cpu_split, _machine_busy_s, _proc_cpu_s

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")

SPIN = "import time\nc = time.process_time()\nwhile time.process_time() - c < {s}: pass\n"


def snap():
    return time.perf_counter(), _proc_cpu_s(), _machine_busy_s()


def test_a_child_is_counted_with_its_own_cpu_and_the_driver_with_its_own():
    before = snap()
    child = subprocess.Popen([sys.executable, "-c", SPIN.format(s=0.4) + "time.sleep(30)"])
    try:
        c = time.process_time()
        while time.process_time() - c < 0.2:     # the driver itself works 0.2 s
            pass
        deadline = time.monotonic() + 20
        while _proc_cpu_s().get(child.pid, ("", 0.0))[1] < 0.39 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = snap()
    finally:
        child.kill()
        child.wait()
    assert child.pid in after[1] and child.pid not in before[1]
    split = _cpu_split(before, after)
    assert 0.35 <= split["ray"] <= 0.6, split           # a descendant not named ray:: is a Ray daemon
    assert split["shards"] == 0.0, split
    assert 0.15 <= split["driver"] <= 0.5, split
    assert split["wall"] > 0.2 and split["other"] >= 0.0 and split["steal"] >= 0.0
    busy = after[2][0] - before[2][0]
    assert busy >= split["ray"] + split["driver"] - 0.05     # the machine was at least as busy as we were


def test_the_plain_shards_control_runs_the_shards_and_reports_each_ones_cpu():
    """The scale-ray control (the same shards as plain processes, no Ray): one figure per shard."""
    from sumame.tools.bench.scale import _plain_run
    wall, cpu = _plain_run(2, 0.05, [[0], [1]])
    assert len(cpu) == 2 and all(c > 0 for c in cpu) and 0 < wall < 60
