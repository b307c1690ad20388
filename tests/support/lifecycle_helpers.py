"""Helpers for the lifecycle tests: small signed images and an update driven like a head-end."""
from __future__ import annotations

import io
import json
import zipfile

from sumame.boards import load_board
from sumame.boards.build import emulation_release_key
from sumame.firmware.lifecycle.image import build_image, sign_image
from sumame.firmware.lifecycle.selftest import MANIFEST
from sumame.firmware.core.scheduler import sleep
from sumame.hal.jst import parse_jst
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")


def small_bundle(target: str = "lv", *, entry: bool = True, size: int = 3000) -> bytes:
    """A loadable application bundle (manifest + entry module) of about ``size`` bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(MANIFEST, json.dumps({"target": target, "entry": "sumame/firmware/app.py"}))
        if entry:
            zf.writestr("sumame/firmware/app.py", "# application\n" + "x = 1\n" * (size // 6))
        else:
            zf.writestr("sumame/firmware/other.py", "# no entry module\n" + "y = 2\n" * (size // 6))
    return out.getvalue()


def signed_image(version=(0, 2, 0), security_version=2, target="lv", *, key=None, payload=None,
                 build_id="test-build") -> bytes:
    payload = small_bundle(target) if payload is None else payload
    image = build_image(payload, target=target, version=version, security_version=security_version,
                        build_id=build_id)
    return sign_image(image, key or emulation_release_key())


def runtime(at=START, **kw):
    board = load_board("emulated-lv", {"broute": {"enabled": False}, "wisun": {"enabled": False}})
    return build_runtime(board, virtual=True, start_epoch=at, poll_interval_s=60, **kw)


async def push_image(agent, image: bytes, *, identifier=b"fw", gap_s: float = 1.0, skip=()) -> None:
    """What a head-end does: initiate, every block (but ``skip``), verify, activate."""
    agent.initiate(identifier, len(image))
    size = agent.block_size
    for n in range(-(-len(image) // size)):
        if n not in skip:
            agent.block(n, image[n * size:(n + 1) * size])
            await sleep(gap_s)
    agent.verify()
    await sleep(gap_s)
    agent.activate()
