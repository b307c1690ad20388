"""`sumame hes rekey` over real TCP: a fleet of two real meters (background threads, real clock)
and one address where nobody answers, a share at a time; progress and the failure reported; the
new keys land in the head-end's key file, the next `sumame hes poll` uses them, a head-end with
the old keys is refused; `--route-b` renews the route-B pair on the meter."""
import json
import os
import shutil
import socket
import subprocess
import sys

import pytest

from realtime_meter import recorded_meter
from sumame.firmware.lifecycle.credentials import route_b_credentials
from sumame.firmware.routes.aroute.keys import derived_secrets
from sumame.firmware.routes.aroute.key_renewal import kek_of

pytestmark = [pytest.mark.lifecycle, pytest.mark.slow]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sumame(env, *args):
    return subprocess.run([sys.executable, "-m", "sumame.tools.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env)


def key_table(meters) -> dict:
    table = {}
    for m in meters:
        serial = m.meter.config.identity.serial
        s = derived_secrets(serial)
        table[serial] = {"system_title": s.system_title.hex(), "ek": s.ek.hex(), "ak": s.ak.hex(),
                         "lls_password": s.lls_password.decode(), "kek": kek_of(serial, {}).hex()}
    return table


def test_rekey_a_fleet_share_at_a_time_then_poll_with_the_new_keys(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "XDG_STATE_HOME": str(tmp_path / "xdg")}
    with recorded_meter(tmp_path / "m1", hours=0) as a, \
            recorded_meter(tmp_path / "m2", hours=0, overrides={"identity": {"serial": "SUMAME000002"}}) as b:
        keys, old = tmp_path / "hes-keys.json", tmp_path / "old-keys.json"
        keys.write_text(json.dumps(key_table([a, b])))
        shutil.copy(keys, old)
        db = ["--db", str(tmp_path / "hes.sqlite")]
        addrs = [f"tcp://127.0.0.1:{m.tcp[1]}" for m in (a, b)]
        dead = f"tcp://127.0.0.1:{free_port()}"
        before = route_b_credentials(a.meter)
        out = sumame(env, "hes", "rekey", "--meters", ",".join(addrs + [dead]), "--share", "0.5",
                     "--route-b", "--keys", str(keys), "--timeout", "3", *db)
        assert out.returncode == 1, out.stdout + out.stderr        # the dead address is a failure
        text = out.stdout
        assert f"{addrs[0]}: new A-route keys in force; old keys refused" in text, text
        assert f"{addrs[1]}: renewed" in text and f"failed {dead}:" in text
        assert "rekey: 1/2 meters" in text and "rekey: 2/2 meters, 2 renewed, 0 failed" in text  # one at a time
        assert "2 of 3 meter(s) renewed, 1 failed" in text
        assert "Traceback" not in out.stderr
        table = json.loads(keys.read_text())
        assert all("pending" not in e for e in table.values())
        assert table != json.loads(old.read_text())
        assert route_b_credentials(a.meter) != before
        assert route_b_credentials(a.meter) == (table["SUMAME000001"]["route_b_id"],
                                                table["SUMAME000001"]["route_b_password"])
        assert f"new route-B ID {table['SUMAME000001']['route_b_id']}" in text
        for addr in addrs:
            ok = sumame(env, "hes", "poll", "--meter", addr, "--keys", str(keys), *db)
            assert ok.returncode == 0 and "+A register" in ok.stdout, ok.stdout + ok.stderr
        refused = sumame(env, "hes", "poll", "--meter", addrs[0], "--keys", str(old), "--timeout", "3", *db)
        assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
        assert "error: " in refused.stderr and "refused the head-end's A-route keys" in refused.stderr
