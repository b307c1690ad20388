"""Provisioning (issue #12 point 8): the head-end issues a meter's identity and secrets
(`sumame hes provision`), the installer loads them (`sumame firmware provision`); the meter then
answers as the provisioned serial / supply point with the provisioned keys (the serial-derived
ones refused), its B-route uses the provisioned route-B pair and Wi-Fi network; and
decommissioning erases every byte provisioning wrote (raw flash scan before / after)."""
import json

import pytest

from aroute_helpers import T0, network, run
from sumame.boards import load_board
from sumame.firmware.lifecycle import provisioning
from sumame.firmware.lifecycle.credentials import route_b_credentials
from sumame.firmware.net.dlms.acse import Mechanism
from sumame.firmware.net.dlms.client import AssociationRefused, ClientSettings
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.net.dlms.security import TxCounter
from sumame.firmware.routes.aroute.keys import HES_SYSTEM_TITLE, derived_secrets
from sumame.firmware.routes.aroute.server import HES_SAP, PUBLIC_SAP
from sumame.tools.cli import main
from sumame.tools.control import Operator
from sumame.tools.emulate.runtime import build_runtime
from sumame.tools.hes.engine import HeadEnd, HesConfig
from sumame.tools.hes.db.keystore import KeyStore
from sumame.tools.hes.links import InProcLink
from sumame.tools.hes.session import DlmsSession

pytestmark = pytest.mark.lifecycle
SERIAL, SUPPLY = "SUMAMEP00042", "0300111234567890123456"
SSID, PASSPHRASE = "home-net-42", "correct horse battery 42"


def board():
    return load_board("emulated-lv", {"wisun": {"enabled": False}})


def provisioned(tmp_path):
    """(runtime booted from the provisioned flash, installation record, head-end key file)."""
    state, keys, install = tmp_path / "meter", tmp_path / "hes-keys.json", tmp_path / "install.json"
    rt = build_runtime(board(), virtual=True, start_epoch=T0, state_dir=state, poll_interval_s=60)
    rt.scheduler.run_for(600)
    rt.meter.shutdown()
    rt.close()
    assert main(["hes", "provision", "--serial", SERIAL, "--supply-point", SUPPLY, "--wifi-ssid", SSID,
                 "--wifi-passphrase", PASSPHRASE, "--keys", str(keys), "--out", str(install)]) == 0
    assert main(["firmware", "provision", "--state-dir", str(state), "--file", str(install)]) == 0
    record = {"serial": SERIAL, **json.loads(install.read_text())[SERIAL]}
    again = build_runtime(board(), virtual=True, start_epoch=T0 + 3600, state_dir=state, poll_interval_s=60)
    again.scheduler.power_cut_kills_group = True
    again.scheduler.run_for(30)
    return again, record, keys


async def associate(rt, ek, ak, tx):
    link = InProcLink(await network(rt).connect(SERIAL))
    s = DlmsSession(link, ClientSettings(client_sap=HES_SAP, mechanism=Mechanism.HIGH_GMAC, ciphered=True,
                                         system_title=HES_SYSTEM_TITLE, ek=ek, ak=ak, tx_counter=tx),
                    timeout_s=20)
    try:
        await s.associate()
    except AssociationRefused:
        link.close()
        return None
    return s


def test_provisioned_identity_keys_route_b_and_wifi_replace_the_derived_values(tmp_path, capsys):
    rt, record, keys = provisioned(tmp_path)
    out = capsys.readouterr().out
    assert "the serial-derived emulation keys are no longer used" in out and f"Wi-Fi SSID '{SSID}'" in out
    meter = rt.meter
    assert (meter.config.identity.serial, meter.config.identity.supply_point) == (SERIAL, SUPPLY)
    assert provisioning.source(meter) == "provisioned"
    aroute = next(s for s in meter.services if s.name == "a-route")
    assert (aroute.secrets.ek.hex(), aroute.secrets.ak.hex()) == (record["ek"], record["ak"])
    assert aroute.secrets.system_title.hex() == record["system_title"]
    assert aroute.kek.hex() == record["kek"]
    assert route_b_credentials(meter) == (record["route_b_id"], record["route_b_password"])
    assert (meter.config.options["wifi"]["ssid"], meter.config.options["wifi"]["passphrase"]) == (SSID, PASSPHRASE)
    broute = next(s for s in meter.services if s.name == "b-route")
    assert (broute.wifi_ssid, broute.wifi_passphrase) == (SSID, PASSPHRASE)
    store = KeyStore([keys])                                          # the head-end's record works
    hes = HeadEnd(rt.scheduler, config=HesConfig(keys=store.current), network=network(rt))
    hes.start()
    m = hes.add_meter(f"inproc://{SERIAL}")
    for _ in range(120):
        if m.ready:
            break
        rt.scheduler.run_for(1)
    assert m.ready and m.supply_point == SUPPLY, m.failure
    tx = TxCounter(100000)           # above the head-end's invocation counters

    async def dialogue():
        for serial in (SERIAL, rt.config.identity.serial):          # derived keys: refused
            d = derived_secrets(serial)
            assert await associate(rt, d.ek, d.ak, tx) is None
        s = await associate(rt, bytes.fromhex(record["ek"]), bytes.fromhex(record["ak"]), tx)
        assert s is not None
        supply = (await s.get(1, Obis.parse("0.0.96.1.1.255").to_bytes(), 2)).value
        await s.release()
        link = InProcLink(await network(rt).connect(SERIAL))
        public = DlmsSession(link, ClientSettings(client_sap=PUBLIC_SAP), timeout_s=20)
        await public.associate()
        device = (await public.get(1, Obis.parse("0.0.96.1.0.255").to_bytes(), 2)).value
        await public.release()
        return supply, device
    supply, device = run(rt, dialogue())
    assert (bytes(supply).decode() if isinstance(supply, (bytes, bytearray)) else supply) == SUPPLY
    assert (bytes(device).decode() if isinstance(device, (bytes, bytearray)) else device) == SERIAL
    rt.close()


def forms(value: str | bytes) -> list[bytes]:
    """Every way a provisioned value could sit in flash: text, raw bytes of a hex value, hex text."""
    text = value.encode() if isinstance(value, str) else value
    out = [text]
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else None
        if raw:
            out += [raw, raw.hex().upper().encode()]
    except ValueError:
        pass
    return out


def test_decommission_erases_everything_provisioning_wrote(tmp_path):
    rt, record, _ = provisioned(tmp_path)
    def raw() -> bytes:           # the whole data flash and code flash images
        return rt.built.emulated["flash"].image() + rt.built.emulated["code_flash"].image()
    image = raw()
    present = {name for name, value in record.items() if any(f in image for f in forms(value))}
    assert present == set(record), f"not on flash before: {set(record) - present}"
    Operator(rt).decommission(str(tmp_path / "export.json"))
    image = raw()
    left = {name for name, value in record.items() if any(f in image for f in forms(value))}
    assert left == set(), f"still on flash after decommissioning: {left}"
    rt.close()
