"""An unmodified gurux-dlms client (GPL, test-only) after `sumame hes rekey`: with the keys the
head-end stored it associates (HLS-GMAC, suite-0 ciphering) and reads the meter; with the old
keys the meter refuses it."""
import json
import os
import subprocess
import sys

import pytest

gurux = pytest.importorskip("gurux_dlms", reason="gurux-dlms (test extra) not installed")
from gurux_dlms.GXDLMSException import GXDLMSException  # noqa: E402
from gurux_dlms.objects import GXDLMSData, GXDLMSRegister  # noqa: E402
from gurux_dialogue import gurux_head_end  # noqa: E402
from realtime_meter import recorded_meter  # noqa: E402

from sumame.firmware.routes.aroute.keys import derived_secrets  # noqa: E402
from sumame.firmware.routes.aroute.key_renewal import kek_of  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.lifecycle]


def test_gurux_uses_the_renewed_keys_and_the_old_ones_are_refused(tmp_path):
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    with recorded_meter(tmp_path / "m", hours=0) as m:
        serial = m.meter.config.identity.serial
        old = derived_secrets(serial)
        keys = tmp_path / "hes-keys.json"
        keys.write_text(json.dumps({serial: {"system_title": old.system_title.hex(), "ek": old.ek.hex(),
                                             "ak": old.ak.hex(), "lls_password": old.lls_password.decode(),
                                             "kek": kek_of(serial, {}).hex()}}))
        out = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "rekey", "--meter",
                              f"tcp://127.0.0.1:{m.tcp[1]}", "--keys", str(keys), "--db", str(tmp_path / "h.db")],
                             capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
        new = json.loads(keys.read_text())[serial]
        g = gurux_head_end(m.tcp, bytes.fromhex(new["ek"]), bytes.fromhex(new["ak"]), 100000).open()
        reg = GXDLMSRegister("1.0.1.8.0.255")
        g.read(reg, 3)
        g.read(reg, 2)
        sp = GXDLMSData("0.0.96.1.1.255")
        value = g.read(sp, 2)
        assert (value if isinstance(value, str) else bytes(value).decode()) == m.meter.config.identity.supply_point
        g.close()
        g.sock.close()
        failures = sum(e.kind == "dlms-auth-failure" for e in m.meter.events)
        stale = gurux_head_end(m.tcp, old.ek, old.ak, 200000)
        with pytest.raises(GXDLMSException, match="rejected"):       # AARE: rejected-permanent
            stale.open()
        stale.sock.close()
        assert sum(e.kind == "dlms-auth-failure" for e in m.meter.events) == failures + 1
