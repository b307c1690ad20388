"""Make firmware images of this build and program them at the "factory".

``bundle()`` zips the installed ``sumame`` firmware and HAL packages (deterministic: sorted
names, fixed timestamps) with a ``sumame-manifest.json``; ``release_image()`` wraps it in the
signed image format of firmware/lifecycle/image.py. ``factory_program()`` is what the factory
programmer does to a blank code flash: provision the release public keys and write the first
image into slot A (a cached flash image is copied, so tests booting thousands of meters pay it
once).
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import zipfile
from importlib import metadata
from pathlib import Path

from sumame.boards.build import Board, emulation_release_key
from sumame.firmware.lifecycle.bootloader import factory_install
from sumame.firmware.lifecycle.image import build_image, sign_image
from sumame.firmware.lifecycle.selftest import MANIFEST

PACKAGES = ("firmware", "hal")
ENTRY = "sumame/firmware/app.py"


def package_version() -> tuple[int, int, int]:
    try:
        parts = metadata.version("sumame").split(".")[:3]
        return tuple(int("".join(c for c in p if c.isdigit()) or 0) for p in parts + ["0"] * (3 - len(parts)))
    except metadata.PackageNotFoundError:
        return (0, 0, 0)


@functools.lru_cache(maxsize=4)
def bundle(target: str, extra_manifest: tuple = ()) -> bytes:
    """The application bundle (zip bytes) of the installed packages for a board kind."""
    import sumame.firmware

    root = Path(sumame.firmware.__file__).resolve().parent.parent
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        names = []
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                name = "sumame/" + path.relative_to(root).as_posix()
                names.append(name)
                zf.writestr(zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0)), path.read_bytes(),
                            zipfile.ZIP_DEFLATED)
        manifest = {"target": target, "entry": ENTRY, "files": len(names), **dict(extra_manifest)}
        zf.writestr(zipfile.ZipInfo(MANIFEST, (2026, 1, 1, 0, 0, 0)), json.dumps(manifest, sort_keys=True))
    return out.getvalue()


def build_id_of(payload: bytes) -> str:
    return "sha256:" + hashlib.sha256(payload).hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def release_image(target: str, security_version: int = 1) -> bytes:
    """This build as an image signed with the emulation release key (emulation only)."""
    payload = bundle(target)
    image = build_image(payload, target=target, version=package_version(), security_version=security_version,
                        build_id=build_id_of(payload))
    return sign_image(image, emulation_release_key())


_PROGRAMMED: dict[tuple, bytes] = {}


def factory_program(board: Board, nvm, device_key: bytes) -> bool:
    """Program a blank code flash (keys + this build in slot A); False when it was not blank."""
    control = nvm.read(0, nvm.page_size)
    if control != b"\xff" * nvm.page_size:
        return False
    keys = board.release_keys()
    cache_key = (board.kind, nvm.page_size, nvm.page_count, device_key, keys)
    image = _PROGRAMMED.get(cache_key)
    if image is not None and hasattr(nvm, "load_image") and not getattr(nvm, "record_ops", False):
        nvm.load_image(image)
        return True
    if board["firmware"]["release_keys"]:
        raise ValueError("the board names its own release keys: program the code flash with an image "
                         "signed by them (sumame firmware build/sign), the emulation image is not")
    factory_install(nvm, device_key, board.kind, release_image(board.kind), keys)
    if hasattr(nvm, "image"):
        _PROGRAMMED[cache_key] = nvm.image()
    return True
