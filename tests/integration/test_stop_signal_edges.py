"""Ctrl-C at the worst moments of ``sumame hes run``: right at its ready line, and after the
stop handler is in place but just before the loop starts (whose start clears the stop flag).

Either way the head-end stops within a second or two with its summary and no traceback; before,
the first gave a KeyboardInterrupt traceback (the handler came after the ready line, which tests
and scripts wait for) and the second ran on to its --duration."""
import json
import os
import signal
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="POSIX signals")

DRIVER = r'''
import builtins, os, signal, sys
from sumame.firmware.core import scheduler as sched
where = sys.argv[1]
if where == "ready-line":
    real_print = builtins.print
    def print_and_interrupt(*a, **k):
        real_print(*a, **k)
        if a and str(a[0]).startswith("sumame hes:"):
            os.kill(os.getpid(), signal.SIGINT)
    builtins.print = print_and_interrupt
else:   # just before the loop starts
    real_run = sched.Scheduler.run
    def run_after_a_signal(self, *a, **k):
        if not getattr(self, "_interrupted", False):
            self._interrupted = True
            os.kill(os.getpid(), signal.SIGINT)
        return real_run(self, *a, **k)
    sched.Scheduler.run = run_after_a_signal
from sumame.tools.cli import main
sys.exit(main(sys.argv[2:]))
'''


@pytest.mark.parametrize("where", ["ready-line", "before-loop"])
def test_a_signal_at_the_edges_of_the_loop_stops_the_head_end_cleanly(tmp_path, where):
    args = ["hes", "run", "--meter", "udp://127.0.0.1:9/256", "--derive-emulation-keys", "--listen", "127.0.0.1:0",
            "--db", str(tmp_path / "hes.sqlite"), "--timeout", "1", "--status-interval", "1", "--duration", "120"]
    r = subprocess.run([sys.executable, "-c", DRIVER, where, *args], capture_output=True, text=True, timeout=100,
                       env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stderr
    assert "never awaited" not in r.stderr, r.stderr
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("summary ")
    assert json.loads(last[len("summary "):])["meters"] == 1
