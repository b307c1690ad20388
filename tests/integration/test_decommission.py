"""Secure erase at disposal: after `ctl decommission` (or the head-end's DLMS script) a scan of
the raw flash images finds none of the meter's secrets or data; the meter refuses service until
provisioned; a power cut at any flash operation of the erase still ends in a refusing meter
whose data flash is blank (or, cut before the mark, an intact one)."""
import json

import pytest
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

from aroute_helpers import T0, meter, open_session, run, settings
from sumame.firmware.lifecycle.bootloader import Bootloader
from sumame.firmware.lifecycle.erase import Decommissioned, provision
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.routes.aroute.key_renewal import kek_of
from sumame.hal.errors import PowerCut
from sumame.tools.control import Operator
from sumame.tools.emulate.runtime import build_runtime

pytestmark = pytest.mark.lifecycle
NEW_EK, NEW_AK = bytes.fromhex("00112233445566778899aabbccddeeff"), bytes.fromhex("8899aabbccddeeff0011223344556677")


def renewed_meter():
    rt = meter()
    rt.scheduler.run_for(1800)
    kek = kek_of(rt.config.identity.serial, {})
    tx = TxCounter()

    async def go():
        s = await open_session(rt, settings(rt, tx=tx))
        await s.action(64, Obis.parse("0.0.43.0.0.255").to_bytes(), 2, axdr.array((
            axdr.structure(axdr.enum(0), axdr.octet_string(aes_key_wrap(kek, NEW_EK))),
            axdr.structure(axdr.enum(2), axdr.octet_string(aes_key_wrap(kek, NEW_AK))))))
        await s.release()
    run(rt, go())
    rt.scheduler.run_for(120)
    return rt


def secrets_of(rt) -> dict[str, bytes]:
    snaps = rt.meter.registers.snapshots()
    return {"renewed EK": NEW_EK, "renewed AK": NEW_AK,
            "supply point": rt.config.identity.supply_point.encode(),
            "newest snapshot": snaps[-1].pack(), "oldest snapshot": snaps[0].pack(),
            "wifi passphrase": rt.board["wifi"]["passphrase"].encode()}


def found(rt, secrets) -> set[str]:
    raw = rt.built.emulated["flash"].image() + rt.built.emulated["code_flash"].image()
    return {name for name, value in secrets.items() if value in raw}


def reboot(rt, at):
    images = {n: rt.built.emulated[n].image() for n in ("flash", "code_flash")}
    rt.close()
    again = build_runtime(rt.board, virtual=True, start_epoch=at, poll_interval_s=60, boot=False)
    for name, data in images.items():
        again.built.emulated[name].load_image(data)
    return again


def test_ctl_decommission_exports_then_leaves_no_secret_on_flash(tmp_path):
    rt = renewed_meter()
    secrets = secrets_of(rt)
    before = found(rt, secrets)
    assert {"renewed EK", "renewed AK", "newest snapshot", "oldest snapshot"} <= before
    kept = len(rt.meter.registers.snapshots())
    out = Operator(rt).decommission(str(tmp_path / "export.json"))
    assert "erased" in out
    exported = json.loads((tmp_path / "export.json").read_text())
    assert len(exported["snapshots"]) == kept
    assert found(rt, secrets) == set()
    assert rt.built.emulated["flash"].image() == b"\xff" * rt.built.emulated["flash"].size
    again = reboot(rt, T0 + 7200)
    with pytest.raises(Decommissioned, match="provision"):
        again.boot()
    again.close()
    loader = Bootloader(again.built.emulated["code_flash"], again.config.device_key, "lv")
    loader.load()
    provision(loader.control)
    fresh = reboot(again, T0 + 7300)
    fresh.boot()
    assert fresh.meter.registers.snapshots() == [] and found(fresh, secrets) <= {"supply point", "wifi passphrase"}
    fresh.close()


def test_head_end_script_decommissions_the_meter():
    rt = renewed_meter()
    secrets = secrets_of(rt)
    tx = TxCounter(1000)     # after the renewal's counters (the meter refuses a replayed one)

    async def go():
        s = await open_session(rt, settings(rt, tx=tx, ek=NEW_EK, ak=NEW_AK))
        await s.action(9, Obis.parse("0.0.10.0.107.255").to_bytes(), 1, axdr.long_unsigned(1))
        await s.release()
    run(rt, go())
    rt.scheduler.run_for(5)
    assert found(rt, secrets) == set()
    again = reboot(rt, T0 + 7200)
    with pytest.raises(Decommissioned):
        again.boot()
    again.close()


def test_power_cut_during_the_erase_still_erases():
    probe = renewed_meter()
    flash, code = probe.built.emulated["flash"], probe.built.emulated["code_flash"]
    start = flash.ops + code.ops
    Operator(probe).decommission("/dev/null")
    total = flash.ops + code.ops - start
    probe.close()
    assert total >= 5
    outcomes = set()
    for k in range(1, total + 1):
        rt = renewed_meter()
        secrets = secrets_of(rt)
        code = rt.built.emulated["code_flash"]
        data = rt.built.emulated["flash"]
        # the mark is on the code flash (first ops), the erase on the data flash
        marker_ops = 2
        if k <= marker_ops:
            code.cut_power_at(code.ops + k, torn=0.5)
        else:
            data.cut_power_at(data.ops + k - marker_ops, torn=0.5)
        with pytest.raises(PowerCut):
            Operator(rt).decommission("/dev/null")
        again = reboot(rt, T0 + 7200)
        try:
            again.boot()
            outcomes.add("intact")
            assert {"renewed EK", "newest snapshot"} <= found(again, secrets), f"cut {k}: data lost without a mark"
        except Decommissioned:
            outcomes.add("erased")
            assert found(again, secrets) == set(), f"cut {k}: secrets left after the refused boot"
        again.close()
    assert "erased" in outcomes


def test_provision_from_a_key_file_after_disposal(tmp_path):
    from sumame.tools.cli import main

    state = tmp_path / "meter"
    rt = build_runtime(load_lv(), virtual=True, start_epoch=T0, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(600)
    Operator(rt).decommission(str(tmp_path / "export.json"))
    rt.close()
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({rt.config.identity.serial: {
        "ek": NEW_EK.hex(), "ak": NEW_AK.hex(),
        "route_b_id": "0123456789ABCDEF0123456789ABCDEF", "route_b_password": "Provisioned1"}}))
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(keys)]) == 0
    again = build_runtime(load_lv(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    again.scheduler.power_cut_kills_group = True
    again.scheduler.run_for(20)
    assert again.meter.services and next(s for s in again.meter.services if s.name == "a-route").key_generation == 0
    tx = TxCounter()

    async def attempt(ek=None, ak=None):
        from sumame.firmware.net.dlms.client import AssociationRefused
        try:
            s = await open_session(again, settings(again, tx=tx, ek=ek, ak=ak))
        except AssociationRefused:
            return False
        await s.release()
        return True
    assert run(again, attempt(NEW_EK, NEW_AK)) and not run(again, attempt())
    from sumame.firmware.lifecycle.credentials import route_b_credentials
    assert route_b_credentials(again.meter) == ("0123456789ABCDEF0123456789ABCDEF", "Provisioned1")
    again.close()


def load_lv():
    from sumame.boards import load_board
    return load_board("emulated-lv", {"broute": {"enabled": False}, "wisun": {"enabled": False}})
