"""``sumame firmware``: make, sign and check firmware images (format: firmware/lifecycle/image.py).

    sumame firmware keygen --out release.pem              # Ed25519 release key (prints the public key)
    sumame firmware build --target lv --version 1.2.0 --security-version 3 --out fw.img
    sumame firmware sign fw.img --key release.pem --out fw.signed.img
    sumame firmware inspect fw.signed.img --public-key HEX   # or --board emulated-lv

``build`` bundles the installed sumame firmware (or ``--payload FILE``) into an unsigned image;
``sign --emulation-key`` signs with the public emulation release key that the emulated boards
trust by default (emulation only: anyone can sign with it).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from .cli import CliError


def add_parser(sub) -> None:
    p = sub.add_parser("firmware", help="build, sign and inspect signed firmware images",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fs = p.add_subparsers(dest="firmware_command", metavar="ACTION")
    q = fs.add_parser("keygen", help="new Ed25519 release signing key (PEM, PKCS#8)")
    q.add_argument("--out", type=Path, required=True)
    q.set_defaults(func=_keygen)
    q = fs.add_parser("build", help="unsigned image of this build's application bundle (or --payload)")
    q.add_argument("--target", choices=("lv", "hv"), required=True, help="board kind the image is for")
    q.add_argument("--version", required=True, help="MAJOR.MINOR.PATCH")
    q.add_argument("--security-version", type=int, required=True,
                   help="monotonic; meters that committed N never boot an image below N")
    q.add_argument("--build-id", help="up to 32 ASCII characters (default: hash of the payload)")
    q.add_argument("--payload", type=Path, help="bundle file (default: zip of the installed sumame packages)")
    q.add_argument("--out", type=Path, required=True)
    q.set_defaults(func=_build)
    q = fs.add_parser("sign", help="sign an image with a release key")
    q.add_argument("image", type=Path)
    key = q.add_mutually_exclusive_group(required=True)
    key.add_argument("--key", type=Path, help="PEM Ed25519 private key")
    key.add_argument("--emulation-key", action="store_true", help="the public emulation key (emulation only)")
    q.add_argument("--out", type=Path, help="default: overwrite IMAGE")
    q.set_defaults(func=_sign)
    q = fs.add_parser("inspect", help="show an image's header and check it")
    q.add_argument("image", type=Path)
    q.add_argument("--public-key", action="append", default=[], help="trusted raw public key, 64 hex digits")
    q.add_argument("--board", help="trust the release keys of this board (default keys: emulation key)")
    q.add_argument("--floor", type=int, default=0, help="security version floor to check against")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_inspect)
    _add_provision(fs)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror}") from None


def _keygen(args) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write(args.out, pem)
    args.out.chmod(0o600)
    print(f"public key {key.public_key().public_bytes_raw().hex()}  (put it in [firmware] release_keys)")
    return 0


def _build(args) -> int:
    from sumame.firmware.lifecycle.image import build_image

    from .firmware_image import build_id_of, bundle

    m = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", args.version)
    if not m:
        raise CliError(f"--version {args.version!r}: expected MAJOR.MINOR.PATCH")
    payload = _read(args.payload) if args.payload else bundle(args.target)
    try:
        image = build_image(payload, target=args.target, version=tuple(int(x) for x in m.groups()),
                            security_version=args.security_version,
                            build_id=args.build_id or build_id_of(payload))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    _write(args.out, image)
    print(f"{args.out}: unsigned {args.target} image {args.version}, security version "
          f"{args.security_version}, {len(image)} bytes ({len(payload)} B payload)")
    return 0


def _sign(args) -> int:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from sumame.boards.build import emulation_release_key
    from sumame.firmware.lifecycle.image import ImageError, sign_image

    if args.emulation_key:
        key = emulation_release_key()
    else:
        try:
            key = serialization.load_pem_private_key(_read(args.key), password=None)
        except (ValueError, TypeError) as exc:
            raise CliError(f"{args.key}: not an unencrypted PEM private key ({exc})") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise CliError(f"{args.key}: not an Ed25519 key")
    try:
        signed = sign_image(_read(args.image), key)
    except ImageError as exc:
        raise CliError(f"{args.image}: {exc}") from None
    out = args.out or args.image
    _write(out, signed)
    print(f"{out}: signed by key {key.public_key().public_bytes_raw().hex()}"
          + (" (EMULATION key — not for production)" if args.emulation_key else ""))
    return 0


def _inspect(args) -> int:
    from sumame.firmware.lifecycle.image import ImageError, Policy, decode_header, verify_image

    from .emulate.runtime import open_board

    data = _read(args.image)
    try:
        header = decode_header(data)
    except ImageError as exc:
        raise CliError(f"{args.image}: {exc}") from None
    keys = []
    for hexkey in args.public_key:
        if not re.fullmatch(r"[0-9a-fA-F]{64}", hexkey):
            raise CliError(f"--public-key {hexkey!r}: expected 64 hex digits")
        keys.append(bytes.fromhex(hexkey))
    if args.board or not keys:
        keys.extend(open_board(args.board or "emulated-lv").release_keys())
    try:
        verify_image(data, Policy(header.target, tuple(keys), args.floor))
        verdict = "valid"
    except ImageError as exc:
        verdict = f"refused: {exc}"
    info = {"target": header.target, "version": header.version_text,
            "security_version": header.security_version, "build_id": header.build_id,
            "payload_bytes": header.payload_size, "image_bytes": header.total_size, "file_bytes": len(data),
            "payload_sha256": header.payload_sha256.hex(), "key_id": header.key_id.hex(),
            "signed": header.signed, "verdict": verdict}
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
    else:
        for name, value in info.items():
            print(f"{name:17} {value}")
    return 0 if verdict == "valid" else 1


def _provision(args) -> int:
    """Factory / installer step: the meter's identity, A-route keys, route-B credentials and
    Wi-Fi from a provisioning file (``sumame hes provision`` writes one from the head-end's key
    store) instead of the serial-derived emulation values; the decommissioned mark cleared."""
    from sumame.firmware.lifecycle import provisioning

    from .emulate.cli import _lock
    from .emulate.runtime import open_board

    board = open_board(args.board)
    try:
        table = json.loads(args.file.read_text())
        if not isinstance(table, dict) or not table:
            raise ValueError("expected a JSON object {SERIAL: {...}}")
        serial = args.serial or (board["identity"]["serial"] if board["identity"]["serial"] in table
                                 else next(iter(table)) if len(table) == 1 else None)
        if serial is None:
            raise KeyError(board["identity"]["serial"])
        record = provisioning.validate({"serial": serial, **table[serial]})
    except OSError as exc:
        raise CliError(f"--file {args.file}: {exc.strerror}") from None
    except KeyError as exc:
        raise CliError(f"--file {args.file}: no {exc} entry (entries by meter serial; pick one with --serial)") from None
    except (ValueError, TypeError, AttributeError) as exc:
        raise CliError(f"--file {args.file}: {exc}") from None
    state_dir = args.state_dir
    state_dir.mkdir(parents=True, exist_ok=True)
    held = _lock(state_dir)           # not under a running `sumame emulate` (two writers on one flash)
    try:
        return _provision_locked(args, board, record, serial, state_dir)
    finally:
        held.close()


def _provision_locked(args, board, record: dict, serial: str, state_dir: Path) -> int:
    from sumame.firmware.lifecycle import provisioning
    from sumame.firmware.lifecycle.bootloader import Bootloader
    from sumame.firmware.lifecycle.erase import begin_provisioning, provision as clear_mark

    from .emulate.cli import _resume_time
    from .emulate.runtime import build_runtime

    rt = build_runtime(board, virtual=True, start_epoch=_resume_time(state_dir) or time.time(),
                       state_dir=state_dir, boot=False)
    code = rt.built.hardware.extras.get("code_nvm")
    if code is None:
        rt.close()
        raise CliError("the board has no code flash ([firmware] enabled = false)")
    loader = Bootloader(code, rt.config.device_key, board.kind)
    loader.load()
    after_disposal = begin_provisioning(loader.control, rt.meter.hw.nvm)   # finishes a cut erase
    rt.meter.lifecycle.installing = after_disposal
    rt.boot()
    if not after_disposal and provisioning.stored(rt.meter) is not None:
        held = provisioning.stored(rt.meter).get("serial", "?")
        rt.meter.shutdown()
        rt.close()
        raise CliError(f"meter in {state_dir} is already provisioned (serial {held}): decommission it first "
                       f"(sumame ctl decommission), or renew its keys with sumame hes rekey")
    provisioning.provision(rt.meter, record)
    rt.meter.shutdown()
    if after_disposal:              # last: a cut before this leaves a meter that refuses service
        clear_mark(rt.meter.lifecycle.loader.control)
    rt.close()
    given = ["identity (serial " + serial + (f", supply point {record['supply_point']}" if record.get("supply_point") else "")
             + ")", "A-route keys" + (" + master key" if record.get("kek") else "")]
    if record.get("route_b_id"):
        given.append("route-B ID/password")
    if record.get("wifi_ssid"):
        given.append(f"Wi-Fi SSID {record['wifi_ssid']!r}/passphrase")
    print(f"meter provisioned in {state_dir} from {args.file}: {', '.join(given)}; "
          f"the serial-derived emulation keys are no longer used")
    return 0


def _add_provision(fs) -> None:
    q = fs.add_parser("provision", help="give a meter its identity, keys, route-B and Wi-Fi credentials (factory step)")
    q.add_argument("--board", default="emulated-lv")
    q.add_argument("--state-dir", type=Path, required=True, help="the meter's state directory (flash images)")
    q.add_argument("--file", type=Path, required=True,
                   help="JSON {SERIAL: {ek, ak[, kek, system_title, lls_password, supply_point, route_b_id, "
                        "route_b_password, wifi_ssid, wifi_passphrase]}} (sumame hes provision writes one)")
    q.add_argument("--serial", help="which entry of the file (default: the board's serial, or the only entry)")
    q.set_defaults(func=_provision)
