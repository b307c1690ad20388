"""Route-B renewal seen by an unmodified HEMS client (momonga, PyPI) over the emulated Wi-SUN
dongles: `sumame hes rekey --route-b` renews the pair over the A-route (TCP); momonga's session
made with the old pair ends (its PANA re-authentication with the old password is refused), a
new scan / join with the old pair fails, one with the new pair works and property 0xC0 (Route B
identification number, read with momonga's get_route_b_id) carries the new ID."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

momonga = pytest.importorskip("momonga", reason="momonga (test extra) is not installed")

from sumame.firmware.lifecycle.credentials import route_b_credentials  # noqa: E402
from sumame.firmware.routes.aroute.keys import derived_secrets  # noqa: E402
from sumame.firmware.routes.aroute.key_renewal import kek_of  # noqa: E402
from sumame.hal.jst import parse_jst  # noqa: E402
from wisun_meter import wisun_meter  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.lifecycle, pytest.mark.slow]
RBID, PASSWORD = "00112233445566778899AABBCCDDEEFF", "SUMAMEPASS01"      # boards/emulated-lv.toml
OVERRIDES = {"broute": {"ip": ["127.0.0.1"], "enabled": True},
             "aroute": {"port": 0, "hdlc_port": 0, "push_transport": "none"}}


def _momonga(path: str, rbid: str, password: str):
    mo = momonga.Momonga(rbid, password, path, scan_retries=1, join_retries=1)
    mo.internal_xmit_interval = 0
    mo.recv_timeout = 10
    return mo


def test_route_b_renewal_ends_old_sessions_and_c0_shows_the_new_id(tmp_path):
    with wisun_meter(tmp_path, wisun=dict(personality="bp35c2", mode="fast", seed=5), overrides=OVERRIDES,
                     state_dir=tmp_path / "state", start_epoch=parse_jst("2026-04-01T06:00")) as (m, world):
        old = _momonga(world.hems_path, RBID, PASSWORD)
        old.open()
        assert bytes(old.get_route_b_id()["authentication id"])[-12:] == bytes.fromhex(RBID)[-12:]
        serial = m.runtime.meter.config.identity.serial
        s = derived_secrets(serial)
        keys = tmp_path / "hes-keys.json"
        keys.write_text(json.dumps({serial: {"system_title": s.system_title.hex(), "ek": s.ek.hex(),
                                             "ak": s.ak.hex(), "lls_password": s.lls_password.decode(),
                                             "kek": kek_of(serial, {}).hex()}}))
        tcp = dict(m.endpoints)["dlms-tcp"]
        out = subprocess.run([sys.executable, "-m", "sumame.tools.cli", "hes", "rekey", "--meter", f"tcp://{tcp}",
                              "--route-b", "--keys", str(keys), "--db", str(tmp_path / "h.db")],
                             capture_output=True, text=True, timeout=120,
                             env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")})
        assert out.returncode == 0, out.stdout + out.stderr
        entry = json.loads(keys.read_text())[serial]
        new_id, new_pw = entry["route_b_id"], entry["route_b_password"]
        assert m.call(lambda rt: route_b_credentials(rt.meter)) == (new_id, new_pw)
        m.wait_for_event("wisun-pan")
        old.xmit_retries, old.recv_timeout = 2, 5         # momonga's own knobs: give up sooner
        with pytest.raises(momonga.MomongaError):        # the old session is over, re-auth refused
            old.get_instantaneous_power()
        try:
            old.close()
        except momonga.MomongaError:
            pass
        stale = _momonga(world.hems_path, RBID, PASSWORD)
        with pytest.raises(momonga.MomongaConnectionFailure):    # the old ID's PAN / password: gone
            stale.open()
        fresh = _momonga(world.hems_path, new_id, new_pw)
        fresh.open()
        try:
            c0 = bytes(fresh.get_route_b_id()["authentication id"])
            power = fresh.get_instantaneous_power()
        finally:
            fresh.close()
        assert c0[-12:] == bytes.fromhex(new_id)[-12:] and c0[-12:] != bytes.fromhex(RBID)[-12:]
        assert power is not None
