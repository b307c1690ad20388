"""Self-test of a firmware image on its trial boot.

The payload must be a loadable application bundle: a zip whose every member passes its CRC,
with a ``sumame-manifest.json`` naming the same target as the signed header and an ``entry``
module that is present in the bundle. On top of that the running meter must have measured and
stored an interval snapshot since the trial boot (checked by the caller, see stage.py).
"""
from __future__ import annotations

import io
import json
import zipfile

from .image import PAYLOAD_OFFSET, ImageHeader

MANIFEST = "sumame-manifest.json"


class SelfTestFailed(Exception):
    pass


def check_bundle(image: bytes, header: ImageHeader) -> dict:
    """The bundle's manifest; raises SelfTestFailed."""
    payload = image[PAYLOAD_OFFSET:header.total_size]
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as bundle:
            bad = bundle.testzip()
            if bad is not None:
                raise SelfTestFailed(f"bundle member {bad} fails its CRC")
            names = set(bundle.namelist())
            if MANIFEST not in names:
                raise SelfTestFailed(f"bundle has no {MANIFEST}")
            manifest = json.loads(bundle.read(MANIFEST))
    except (zipfile.BadZipFile, ValueError, EOFError, KeyError) as exc:
        raise SelfTestFailed(f"payload is not a loadable bundle: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("target") != header.target:
        raise SelfTestFailed(f"manifest target {manifest.get('target') if isinstance(manifest, dict) else None!r} "
                             f"differs from the signed header's {header.target!r}")
    entry = manifest.get("entry")
    if not isinstance(entry, str) or entry not in names:
        raise SelfTestFailed(f"entry module {entry!r} is not in the bundle")
    return manifest
