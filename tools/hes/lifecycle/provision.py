"""``sumame hes provision``: the head-end issues a meter's identity and secrets for its installation.

    sumame hes provision --serial SUMAME000042 --supply-point 0300111234567890123456 \\
        [--wifi-ssid HOME --wifi-passphrase '…'] --keys hes-keys.json --out meter-42.json

Fresh random A-route keys (EK, AK, master key KEK), system title, LLS password and route-B
ID/password are recorded in the head-end's key store FIRST (so the head-end can always reach
the meter it provisions), then written, with the identity and Wi-Fi settings, to the
installation file (mode 0600) that ``sumame firmware provision --file`` loads into the meter.
"""
from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from sumame.firmware.lifecycle.provisioning import ProvisioningError, validate
from sumame.firmware.routes.aroute.keys import FLAG_ID

from ...cli import CliError
from .rekey import new_route_b


def add_parser(hs) -> None:
    q = hs.add_parser("provision", help="issue a meter's identity, A-route keys, route-B and Wi-Fi credentials "
                                        "(installation file for `sumame firmware provision`)")
    q.add_argument("--serial", required=True, help="the meter's serial (up to 12 characters)")
    q.add_argument("--supply-point", required=True, help="22-digit supply point identification number")
    q.add_argument("--wifi-ssid", help="home Wi-Fi network of the B-route (boards with Wi-Fi)")
    q.add_argument("--wifi-passphrase", help="its WPA2 passphrase (8-63 characters)")
    q.add_argument("--keys", type=Path, required=True, help="the head-end's key file (the entry is added)")
    q.add_argument("--out", type=Path, required=True, help="installation file for `sumame firmware provision`")
    q.set_defaults(func=_provision)


def issue(serial: str, supply_point: str, wifi_ssid: str | None = None,
          wifi_passphrase: str | None = None) -> dict:
    """A complete, validated provisioning record with fresh random secrets."""
    route_b_id, route_b_password = new_route_b()
    record = {"serial": serial, "supply_point": supply_point, "ek": os.urandom(16).hex(),
              "ak": os.urandom(16).hex(), "kek": os.urandom(16).hex(),
              "system_title": (FLAG_ID + os.urandom(5)).hex(), "lls_password": secrets.token_hex(6),
              "route_b_id": route_b_id, "route_b_password": route_b_password}
    if wifi_ssid:
        record.update(wifi_ssid=wifi_ssid, wifi_passphrase=wifi_passphrase or "")
    return validate(record)


def _provision(args) -> int:
    from ..cli import _key_store

    if bool(args.wifi_ssid) != bool(args.wifi_passphrase):
        raise CliError("give both --wifi-ssid and --wifi-passphrase (or neither)")
    if not re.fullmatch(r"\d{22}", args.supply_point):
        raise CliError(f"--supply-point {args.supply_point!r}: 22 digits")
    try:
        record = issue(args.serial, args.supply_point, args.wifi_ssid, args.wifi_passphrase)
    except ProvisioningError as exc:
        raise CliError(str(exc)) from None
    store = _key_store(args.keys)
    if args.serial in store:
        raise CliError(f"meter {args.serial} already has keys in {args.keys}: renew them with sumame hes rekey")
    entry = {k: v for k, v in record.items() if k != "serial"}
    tmp = args.out.with_name(args.out.name + ".tmp")
    try:        # written aside first: an --out that cannot be written must not leave a key-store entry
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({args.serial: entry}, fh, indent=1)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise CliError(f"--out {args.out}: {exc.strerror}") from None
    try:
        store.put(args.serial, {k: record[k] for k in ("system_title", "ek", "ak", "lls_password", "kek",
                                                       "route_b_id", "route_b_password")})
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, args.out)       # visible only once the head-end holds the keys
    print(f"meter {args.serial}: keys recorded in {args.keys}; installation file {args.out} "
          f"(load it with: sumame firmware provision --state-dir STATE --file {args.out})")
    print(f"  route-B ID {record['route_b_id']} password {record['route_b_password']} (for the customer's QR code)")
    return 0
