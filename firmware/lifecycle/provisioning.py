"""Provisioning: the factory / installation step that gives a meter who it is and its secrets.

``provision(meter, record)`` stores, on the data flash (StateStore, each a single record so a
power cut leaves the old or the new value):

* ``provisioned`` (JSON): identity (``serial``, ``supply_point``), A-route ``system_title``,
  ``kek`` (master key that unwraps renewed keys), ``lls_password``, Wi-Fi ``wifi_ssid`` /
  ``wifi_passphrase`` (boards with a Wi-Fi comms unit / IoT terminal link);
* ``aroute.keys``: the A-route EK/AK, generation 0 (the record a key renewal replaces);
* ``broute.credentials``: the route-B ID and password (the record a route-B renewal replaces).

At boot ``apply(meter)`` lays the provisioned values over the board's (``meter.config``), so the
routes start with them. A meter without the record runs on the board file's values or, where
those are empty, on keys DERIVED FROM THE SERIAL NUMBER — an emulation convenience only
(``source(meter)`` says which). Decommissioning erases the whole data flash, so every value
written here goes with it (firmware/lifecycle/erase.py).
"""
from __future__ import annotations

import json
import re
import struct
from dataclasses import replace

from .credentials import STATE as ROUTE_B_STATE, check as check_route_b

STATE = "provisioned"
KEYS_STATE = "aroute.keys"          # firmware/routes/aroute/key_renewal.py
_HEX = {"ek": 16, "ak": 16, "kek": 16, "system_title": 8}
_FIELDS = {"serial", "supply_point", "ek", "ak", "kek", "system_title", "lls_password", "route_b_id",
           "route_b_password", "wifi_ssid", "wifi_passphrase"}


class ProvisioningError(ValueError):
    """A provisioning record that is incomplete or malformed (says which field)."""


def validate(record: dict) -> dict:
    """Checked copy of ``record``; required: serial, ek, ak (the rest optional)."""
    unknown = set(record) - _FIELDS
    if unknown:
        raise ProvisioningError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for name in ("serial", "ek", "ak"):
        if not record.get(name):
            raise ProvisioningError(f"{name} missing")
    if not re.fullmatch(r"[\x21-\x7e]{1,12}", record["serial"]):
        raise ProvisioningError("serial: 1 to 12 printable ASCII characters")
    if record.get("supply_point") and not re.fullmatch(r"\d{22}", record["supply_point"]):
        raise ProvisioningError("supply_point: 22 digits")
    for name, size in _HEX.items():
        if record.get(name):
            try:
                if len(bytes.fromhex(record[name])) != size:
                    raise ValueError
            except (ValueError, TypeError):
                raise ProvisioningError(f"{name}: {2 * size} hex digits") from None
    if "route_b_id" in record or "route_b_password" in record:
        try:
            check_route_b(record.get("route_b_id", ""), record.get("route_b_password", ""))
        except ValueError as exc:
            raise ProvisioningError(str(exc)) from None
    if record.get("wifi_passphrase") and not 8 <= len(record["wifi_passphrase"]) <= 63:
        raise ProvisioningError("wifi_passphrase: 8 to 63 characters (WPA2)")
    return dict(record)


def provision(meter, record: dict) -> None:
    """Store ``record`` (validated) on the meter's data flash; takes effect at the next boot."""
    record = validate(record)
    store = meter.storage
    store.save(KEYS_STATE, struct.pack(">I", 0) + bytes.fromhex(record["ek"]) + bytes.fromhex(record["ak"]))
    if record.get("route_b_id"):
        store.save(ROUTE_B_STATE, (record["route_b_id"] + record["route_b_password"]).encode("ascii"))
    rest = {k: v for k, v in record.items() if k not in ("ek", "ak", "route_b_id", "route_b_password")}
    store.save(STATE, json.dumps(rest, sort_keys=True).encode())
    meter.events.record("provisioned", source="factory",
                        detail=f"meter {record['serial']} provisioned: identity, A-route keys"
                               + (", route-B credentials" if record.get("route_b_id") else "")
                               + (", Wi-Fi" if record.get("wifi_ssid") else ""))


def stored(meter) -> dict | None:
    raw = meter.storage.load(STATE)
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        return record if isinstance(record, dict) else None
    except ValueError:
        return None


def apply(meter) -> bool:
    """At boot: the provisioned identity and options replace the board's. True if provisioned."""
    record = stored(meter)
    if record is None:
        return False
    cfg = meter.config
    ident = replace(cfg.identity, serial=record.get("serial") or cfg.identity.serial,
                    supply_point=record.get("supply_point") or cfg.identity.supply_point)
    options = dict(cfg.options)
    aroute = dict(options.get("aroute", {}))
    for name in ("kek", "system_title", "lls_password"):
        if record.get(name):
            aroute[name] = record[name]
    options["aroute"] = aroute
    if record.get("wifi_ssid"):
        options["wifi"] = {**options.get("wifi", {}), "ssid": record["wifi_ssid"],
                           "passphrase": record.get("wifi_passphrase", "")}
    meter.config = replace(cfg, identity=ident, options=options)
    meter.readings.identity = ident
    return True


def source(meter) -> str:
    """Where the running meter's A-route keys come from, for the user."""
    if stored(meter) is not None:
        return "provisioned"
    section = meter.config.options.get("aroute", {})
    if all(section.get(k) for k in ("ek", "ak")) and meter.storage.load(KEYS_STATE) is None:
        return "board file"
    if meter.storage.load(KEYS_STATE) is not None:
        return "renewed by the head-end"
    return "DERIVED FROM THE SERIAL NUMBER (emulation only; provision the meter: sumame firmware provision)"
