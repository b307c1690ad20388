"""A-route credentials of an emulated meter, as the user sees them and as ``sumame hes`` reads them.

``sumame emulate`` prints them next to the route-B ones and writes them to
``STATE/a-route-keys.json`` (mode 0600), in the key-file format ``sumame hes --keys`` reads:

    {"SUMAME000001": {"system_title": hex, "ek": hex, "ak": hex, "lls_password": text, "kek": hex}}

Printed lines (one value each, hex for binary):

    a-route-lls-password  password of the reader association (client SAP 0x20, LLS)
    a-route-system-title  the meter's system title (8 bytes, HLS-GMAC / ciphering)
    a-route-block-key     global unicast encryption key EK (AES-128, "block cipher key")
    a-route-auth-key      authentication key AK (AES-128); HLS-GMAC (client SAP 0x30) uses EK+AK
    a-route-keys          the key file
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from sumame.firmware.routes.aroute.keys import ARouteSecrets

KEYS_FILE = "a-route-keys.json"


def credential_lines(secrets: ARouteSecrets) -> list[tuple[str, str]]:
    return [("a-route-lls-password", secrets.lls_password.decode("ascii", "replace")),
            ("a-route-system-title", secrets.system_title.hex().upper()),
            ("a-route-block-key", secrets.ek.hex().upper()),
            ("a-route-auth-key", secrets.ak.hex().upper())]


def write_keys_file(state_dir: Path, serial: str, secrets: ARouteSecrets, kek: bytes | None = None) -> Path:
    """Write (replace) the key file of this meter; readable by the owner only. ``kek``: the
    master key that wraps renewed keys (``sumame hes rekey`` needs it)."""
    path = Path(state_dir) / KEYS_FILE
    entry = {serial: {"system_title": secrets.system_title.hex(), "ek": secrets.ek.hex(),
                      "ak": secrets.ak.hex(), "lls_password": secrets.lls_password.decode("ascii", "replace")}}
    if kek is not None:
        entry[serial]["kek"] = kek.hex()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(entry, fh, indent=1)
        fh.write("\n")
    os.replace(tmp, path)
    return path


def load_keys_file(path: Path) -> dict[str, ARouteSecrets]:
    """{serial: secrets}; raises ValueError (with the reason) for an unreadable or malformed file."""
    try:
        table = json.loads(Path(path).read_text())
        return {serial: ARouteSecrets(bytes.fromhex(k["system_title"]), bytes.fromhex(k["ek"]),
                                      bytes.fromhex(k["ak"]), k.get("lls_password", "").encode())
                for serial, k in table.items()}
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a key file ({type(exc).__name__}: {exc})") from None


def emulator_key_files(state_home: Path | None = None) -> list[Path]:
    """Key files that ``sumame emulate`` wrote into its default state dirs
    ($XDG_STATE_HOME/sumame/<board>/a-route-keys.json)."""
    base = state_home or Path(os.environ.get("XDG_STATE_HOME")
                              or os.path.join(os.path.expanduser("~"), ".local", "state"))
    return sorted((base / "sumame").glob(f"*/{KEYS_FILE}"))
