"""Provisioning against the meter's past (issue #12 points 6 and 8, independent review): an
installer who provisions a meter whose decommissioning was cut mid-erase must not leave a byte
of the old life on the flash; a cut during that provisioning still leaves a refusing meter;
an already provisioned meter is not silently re-provisioned; a bad file writes nothing."""
import json

import pytest

from aroute_helpers import T0
from sumame.boards import load_board
from sumame.firmware.lifecycle import provisioning
from sumame.firmware.lifecycle.erase import Decommissioned
from sumame.hal.errors import PowerCut
from sumame.tools.cli import main
from sumame.tools.control import Operator
from sumame.tools.emulate.runtime import build_runtime

pytestmark = pytest.mark.lifecycle
OLD, NEW = "SUMAMER00001", "SUMAMER00002"


def board():
    return load_board("emulated-lv", {"wisun": {"enabled": False}})


def issue(tmp_path, serial, supply, wifi=None):
    keys, out = tmp_path / f"keys-{serial}.json", tmp_path / f"install-{serial}.json"
    extra = ["--wifi-ssid", wifi[0], "--wifi-passphrase", wifi[1]] if wifi else []
    assert main(["hes", "provision", "--serial", serial, "--supply-point", supply, *extra,
                 "--keys", str(keys), "--out", str(out)]) == 0
    return out, {"serial": serial, **json.loads(out.read_text())[serial]}


def forms(value: str) -> list[bytes]:
    out = [value.encode()]
    try:
        out.append(bytes.fromhex(value))
    except ValueError:
        pass
    return out


def left_on(image: bytes, record: dict) -> set[str]:
    return {k for k, v in record.items() if k != "serial" and any(f in image for f in forms(v))}


def provisioned_meter(tmp_path):
    state = tmp_path / "meter"
    rt = build_runtime(board(), virtual=True, start_epoch=T0, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(120)
    rt.meter.shutdown()
    rt.close()
    install, record = issue(tmp_path, OLD, "0300111234567890123456",
                            ("old-home-wifi", "old passphrase 1234"))
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 0
    return state, record


def boot(state, at):
    rt = build_runtime(board(), virtual=True, start_epoch=at, state_dir=state, poll_interval_s=60, boot=False)
    return rt


def cut_decommission(state, cut_after_ops=1):
    rt = build_runtime(board(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(60)
    flash = rt.built.emulated["flash"]
    flash.cut_power_at(flash.ops + cut_after_ops, torn=0.5)
    with pytest.raises(PowerCut):
        Operator(rt).decommission("/dev/null")
    rt.close()


def test_provisioning_after_a_cut_decommission_leaves_nothing_of_the_old_life(tmp_path, capsys):
    state, old = provisioned_meter(tmp_path)
    assert left_on((state / "flash.bin").read_bytes(), old) == set(old) - {"serial"}
    cut_decommission(state)
    install, new = issue(tmp_path, NEW, "0300111234567890123457")
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 0
    assert left_on((state / "flash.bin").read_bytes(), old) == set()
    rt = boot(state, T0 + 7200)
    rt.boot()
    rt.scheduler.run_for(10)
    assert rt.meter.config.identity.serial == NEW and provisioning.source(rt.meter) == "provisioned"
    assert "wifi" not in rt.meter.config.options or rt.meter.config.options["wifi"].get("ssid") != "old-home-wifi"
    rt.close()


def test_a_cut_while_provisioning_a_decommissioned_meter_still_refuses_service(tmp_path):
    state, old = provisioned_meter(tmp_path)
    rt = build_runtime(board(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(60)
    Operator(rt).decommission("/dev/null")
    rt.close()
    install, new = issue(tmp_path, NEW, "0300111234567890123457")
    real = provisioning.provision

    def cut_midway(meter, record):
        record = provisioning.validate(record)
        meter.storage.save(provisioning.KEYS_STATE, b"\0\0\0\0" + bytes.fromhex(record["ek"]) * 2)
        raise PowerCut("cut while writing the provisioning records")
    provisioning.provision = cut_midway
    try:
        with pytest.raises(PowerCut):
            main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)])
    finally:
        provisioning.provision = real
    rt = boot(state, T0 + 7200)
    with pytest.raises(Decommissioned):
        rt.boot()
    rt.close()
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 0
    rt = boot(state, T0 + 7300)
    rt.boot()
    assert rt.meter.config.identity.serial == NEW
    rt.close()


def test_an_already_provisioned_meter_is_not_reprovisioned_over_its_keys(tmp_path, capsys):
    state, old = provisioned_meter(tmp_path)
    install, new = issue(tmp_path, NEW, "0300111234567890123457")
    capsys.readouterr()
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "already provisioned" in err and "decommission" in err
    image = (state / "flash.bin").read_bytes()
    assert left_on(image, new) == set()
    rt = boot(state, T0 + 7200)
    rt.boot()
    assert rt.meter.config.identity.serial == OLD
    rt.close()


@pytest.mark.parametrize("entry, says", [
    ({"ak": "00" * 16}, "ek missing"),
    ({"ek": "00" * 15, "ak": "00" * 16}, "ek: 32 hex digits"),
    ({"ek": "00" * 16, "ak": "00" * 16, "route_b_id": "0" * 32}, "password"),
    ({"ek": "00" * 16, "ak": "00" * 16, "wifi_ssid": "x", "wifi_passphrase": "short"}, "wifi_passphrase"),
    ({"ek": "00" * 16, "ak": "00" * 16, "colour": "red"}, "unknown field"),
])
def test_a_bad_file_is_one_line_and_writes_nothing(tmp_path, capsys, entry, says):
    state = tmp_path / "meter"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({OLD: entry}))
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and says in err, err
    assert not state.exists() or not any(state.iterdir())


def test_decommission_after_a_rekey_leaves_neither_old_nor_new_secrets(tmp_path):
    """Provisioned meter, then `hes rekey --route-b` (new A-route keys and route-B pair; the old
    ones still sit in superseded flash records), then decommissioning: a raw scan of both flash
    images finds none of the provisioned values and none of the renewed ones."""
    from aroute_helpers import network, run
    from sumame.tools.hes.engine import HeadEnd, HesConfig
    from sumame.tools.hes.db.keystore import KeyStore
    from sumame.tools.hes.lifecycle.rekey import rekey_meter

    state, old = provisioned_meter(tmp_path)
    rt = build_runtime(board(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    rt.scheduler.power_cut_kills_group = True
    rt.scheduler.run_for(30)
    keys = tmp_path / f"keys-{OLD}.json"
    store = KeyStore([keys])
    hes = HeadEnd(rt.scheduler, config=HesConfig(keys=store.current, alternate_keys=store.pending,
                                                 keys_confirmed=store.confirm), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{OLD}")
    for _ in range(120):
        if m.ready or m.failure:
            break
        rt.scheduler.run_for(1)
    assert m.ready, m.failure
    result = run(rt, rekey_meter(hes, store, m.id, kek=store.kek, route_b=True))
    assert result["ok"] and result["old_refused"], result
    hes.stop()
    renewed = {f"renewed {k}": v for k, v in json.loads(keys.read_text())[OLD].items()
               if k in ("ek", "ak", "route_b_id", "route_b_password")}
    assert renewed["renewed ek"] != old["ek"] and renewed["renewed route_b_password"] != old["route_b_password"]
    secrets = {**old, **renewed}
    del secrets["serial"]

    def raw():
        return rt.built.emulated["flash"].image() + rt.built.emulated["code_flash"].image()
    assert left_on(raw(), secrets) == set(secrets)
    Operator(rt).decommission(str(tmp_path / "export.json"))
    assert left_on(raw(), secrets) == set()
    rt.close()


def test_hes_provision_with_an_unwritable_out_records_nothing(tmp_path, capsys):
    """The installation file cannot be written: one-line error and no key-store entry (else the
    serial could never be provisioned again: 'already has keys')."""
    keys = tmp_path / "hes-keys.json"
    args = ["hes", "provision", "--serial", OLD, "--supply-point", "0300111234567890123456",
            "--keys", str(keys), "--out", str(tmp_path / "missing-dir" / "install.json")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err, err
    assert not keys.exists() or OLD not in json.loads(keys.read_text())
    args[-1] = str(tmp_path / "install.json")
    assert main(args) == 0 and OLD in json.loads(keys.read_text())


def test_provisioning_refuses_a_state_dir_a_running_meter_holds(tmp_path, capsys):
    """`sumame emulate` holds the state directory's lock: provisioning its flash underneath it
    (two writers on one flash image) is refused in one line, nothing written."""
    import fcntl

    state = tmp_path / "meter"
    state.mkdir()
    install, _ = issue(tmp_path, OLD, "0300111234567890123456")
    with open(state / "lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)     # what a running `sumame emulate` does
        capsys.readouterr()
        assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "running" in err, err
    assert sorted(p.name for p in state.iterdir()) == ["lock"]


def test_reprovisioning_with_the_same_keys_never_reuses_an_invocation_counter(tmp_path):
    """Decommission erases the A-route transmit invocation counter with everything else. If the
    meter is then provisioned again from the same file (same EK, same system title), a counter
    starting again from 0 would reuse AES-GCM nonces under that key. The next IC the meter uses
    must be above every IC it used before the decommissioning."""
    state, record = provisioned_meter(tmp_path)
    install = tmp_path / f"install-{OLD}.json"

    def a_route(rt):
        return next(s for s in rt.meter.services if s.name == "a-route")
    rt = build_runtime(board(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(30)
    tx = a_route(rt).tx_counter
    for _ in range(300):                   # ciphered answers the meter protected with its EK
        tx.next()
    used = tx.value
    Operator(rt).decommission("/dev/null")
    rt.close()
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 0
    again = build_runtime(board(), virtual=True, start_epoch=T0 + 7200, state_dir=state, poll_interval_s=60)
    again.scheduler.run_for(30)
    assert a_route(again).secrets.ek.hex() == record["ek"]          # same key as before
    assert a_route(again).tx_counter.next() > used
    again.close()
