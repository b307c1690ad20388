"""npm ``echonet-lite`` 2.x (unmodified, Node.js) discovers the REAL emulated meter by multicast
and reads E7, E0, D3 and E1, over IPv4 and over IPv6. The client binds 0.0.0.0:3610 and
[::]:3610 and sends from other ports, so it hears only answers sent to port 3610 (ECHONET Lite
Part 2 §1.2). Meter and client run in a network namespace the test creates (``unshare -n``)."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from netns import last_json, run_in_netns, unshare_argv
from npm_cache import npm_package

pytestmark = pytest.mark.interop

VERSION = "2.16.2"
EXTRAS = ("date-utils@1.2.21",)
"""echonet-lite requires date-utils but its package.json does not declare it."""
CLIENT_JS = Path(__file__).with_name("npm_echonet_lite_client.js")
METER6, HEMS6 = "fd00:3610::1", "fd00:3610::2"

SCENARIO = r'''
import json, subprocess, sys, tempfile
from sumame.firmware.metrology.readings import Quantity
from sumame.tools.emulate.meter_thread import MeterThread

module, script, ipver, meter = sys.argv[1:5]
m = MeterThread("emulated-lv", overrides={"broute": {"ip": [meter], "multicast": True}},
                profile="constant", state_dir=tempfile.mkdtemp()).start()
endpoints = m.endpoints
res = subprocess.run(["node", script, module, ipver, meter], capture_output=True, text=True, timeout=60)
truth = m.call(lambda rt: {"w": rt.meter.readings.present().power_w,
                           "e0": rt.meter.readings.cumulative_now(Quantity.FORWARD),
                           "counters": dict(rt.meter.services[0].service.counters)})
m.stop()
lines = [l for l in res.stdout.splitlines() if l.startswith("{")]
client = json.loads(lines[-1]) if lines else {"error": res.stderr[-2000:], "out": res.stdout[-2000:]}
client["stderr"] = res.stderr[-1500:]
print(json.dumps({"client": client, "endpoints": endpoints, **truth}))
'''


@pytest.fixture(scope="module")
def echonet_lite_module():
    ci = os.environ.get("CI") == "true"
    module, why = npm_package("echonet-lite", VERSION, EXTRAS)
    if module is None:
        if ci:
            pytest.fail(f"npm echonet-lite {VERSION} is missing under CI: {why}")
        pytest.skip(f"npm echonet-lite {VERSION} unavailable: {why}")
    if unshare_argv() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("cannot create a network namespace (unshare -n); this test needs one")
        pytest.skip("cannot create a network namespace here (unshare -n / -rn refused)")
    return module


@pytest.mark.parametrize("ipver, meter", [("4", "127.0.0.2"), ("6", METER6)])
def test_npm_echonet_lite_discovers_and_reads_the_meter(echonet_lite_module, ipver, meter):
    code = SCENARIO
    code = "import sys; sys.argv[1:] = " + json.dumps([str(echonet_lite_module), str(CLIENT_JS), ipver, meter]) \
        + "\n" + code
    data = last_json(run_in_netns(code, addrs=(f"{METER6}/128", f"{HEMS6}/128"),
                                  sources={METER6: HEMS6}, timeout=120))
    client = data["client"]
    assert "error" not in client, client
    assert client["d6"] == "01028801", client
    values = client["meter"]
    assert int(values["e7"], 16) == data["w"] == 1000
    assert data["e0"] - 2 <= int(values["e0"], 16) <= data["e0"]
    assert values["d3"] == "00000001" and values["e1"] == "02"
    assert data["counters"]["odd-source-port"] >= 2
    if ipver == "4":
        assert client["multicast"], "the multicast search (224.0.23.0) went unanswered"
