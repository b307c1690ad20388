"""Firmware update from the head-end over the A-route: DLMS image transfer (class 18).

``update_meter`` runs one meter through initiate -> the missing blocks (read from the meter's
image_transferred_blocks_status, so an interrupted transfer resumes where it stopped) ->
verify -> activate, then polls image_transfer_status across the meter's reset until the new
image committed (6) or the meter fell back (7). ``campaign`` updates a fleet a share at a time,
reporting progress and failures. The identifier sent is the SHA-256 of the image (first 16 bytes)
so the same image resumes, another one starts over.
"""
from __future__ import annotations

import hashlib
import math
from typing import Callable

from sumame.firmware.lifecycle.image import decode_header
from sumame.firmware.net.dlms import axdr
from sumame.firmware.net.dlms.obis import Obis
from sumame.firmware.core.scheduler import sleep

from .waves import in_waves

IMAGE_TRANSFER = Obis.parse("0.0.44.0.0.255").to_bytes()
ACTIVE_FIRMWARE_ID = Obis.parse("1.0.0.2.0.255").to_bytes()
STATUS_NAMES = {0: "not initiated", 1: "transfer initiated", 2: "verification initiated",
                3: "verified", 4: "verification failed", 5: "activation initiated",
                6: "activated", 7: "activation failed"}


def identifier_of(image: bytes) -> bytes:
    return hashlib.sha256(image).digest()[:16]


async def transfer(hes, meter_id: str, image: bytes, progress: Callable[[str, str], None]) -> dict:
    """Initiate, send missing blocks, verify, activate (one association)."""
    m = hes.meter(meter_id)
    async with hes.session(m) as s:
        size = (await s.get(18, IMAGE_TRANSFER, 2)).value
        if not (await s.get(18, IMAGE_TRANSFER, 5)).value:
            await s.set(18, IMAGE_TRANSFER, 5, axdr.boolean(True))
        await s.action(18, IMAGE_TRANSFER, 1, axdr.structure(axdr.octet_string(identifier_of(image)),
                                                              axdr.double_long_unsigned(len(image))))
        bits = (await s.get(18, IMAGE_TRANSFER, 3)).value
        count = math.ceil(len(image) / size)
        missing = [n for n in range(count) if n >= len(bits) or bits[n] != "1"]
        if len(missing) < count:
            progress(meter_id, f"resuming: {count - len(missing)} of {count} blocks already on the meter")
        step = max(1, len(missing) // 10)
        for i, n in enumerate(missing):
            await s.action(18, IMAGE_TRANSFER, 2, axdr.structure(axdr.double_long_unsigned(n),
                                                                  axdr.octet_string(image[n * size:(n + 1) * size])))
            if (i + 1) % step == 0 or i + 1 == len(missing):
                progress(meter_id, f"blocks {count - len(missing) + i + 1}/{count}")
        await s.action(18, IMAGE_TRANSFER, 3, axdr.integer(0))
        progress(meter_id, "verified")
        await s.action(18, IMAGE_TRANSFER, 4, axdr.integer(0))
        progress(meter_id, "activated; waiting for the trial boot and self-test")
    return {"blocks": count, "sent": len(missing)}


async def _why(hes, meter_id: str) -> str:
    """The meter's own account of a refusal: its transfer status and newest security event."""
    from sumame.firmware.routes.aroute import obis_codes as oc
    from sumame.firmware.routes.aroute.event_logs import EVENT_NAMES

    try:
        async with hes.session(hes.meter(meter_id)) as s:
            status = (await s.get(18, IMAGE_TRANSFER, 6)).value
            log = (await s.get(7, oc.SECURITY_LOG, 2)).value
    except Exception:  # noqa: BLE001 - nothing more to learn
        return ""
    names = [EVENT_NAMES.get(row.value[1].value, "?") for row in log]
    ours = [n for n in names if n.startswith(("image-", "update-"))]
    return f"; meter status: {STATUS_NAMES.get(status, status)}, newest firmware security event: " \
           f"{ours[-1] if ours else 'none'}"


async def update_meter(hes, meter_id: str, image: bytes, *, progress: Callable[[str, str], None] | None = None,
                       settle_timeout_s: float = 600.0, poll_s: float = 10.0) -> dict:
    """{"meter", "ok", "status", "firmware", "blocks", "sent", "detail"}."""
    progress = progress or (lambda meter, text: None)
    header = decode_header(image)
    result = {"meter": meter_id, "ok": False, "status": None, "firmware": None, "blocks": 0, "sent": 0,
              "detail": ""}
    try:
        result.update(await transfer(hes, meter_id, image, progress))
    except Exception as exc:   # noqa: BLE001 - any refusal or link failure is this meter's failure
        result["detail"] = f"transfer: {exc}" + await _why(hes, meter_id)
        return result
    m = hes.meter(meter_id)
    waited = 0.0
    while waited < settle_timeout_s:
        await sleep(poll_s)
        waited += poll_s
        try:
            async with hes.session(m) as s:
                status = (await s.get(18, IMAGE_TRANSFER, 6)).value
                firmware = (await s.get(1, ACTIVE_FIRMWARE_ID, 2)).value
        except Exception:  # noqa: BLE001 - the meter is restarting
            continue
        result["status"], result["firmware"] = STATUS_NAMES.get(status, str(status)), firmware
        if status == 6:
            expected = f"{header.version_text} {header.build_id}"
            result["ok"] = firmware.startswith(expected + " ")
            result["detail"] = "committed" if result["ok"] else f"meter runs {firmware!r}, expected {expected!r}"
            return result
        if status == 7:
            result["detail"] = f"meter fell back to {firmware!r}"
            return result
    result["detail"] = f"no committed image within {settle_timeout_s:.0f} s"
    return result


async def campaign(hes, meter_ids: list[str], image: bytes, *, share: float = 0.1,
                   progress: Callable[[str, str], None] | None = None, **kw) -> dict:
    """Update ``meter_ids`` in waves of ``share`` of the fleet (at least one meter)."""
    results = await in_waves(hes, meter_ids, lambda mid: update_meter(hes, mid, image, progress=progress, **kw),
                             share=share, poll_s=1.0, progress=progress or (lambda meter, text: None),
                             done_word="updated", label="campaign")
    return {"meters": len(meter_ids), "updated": sum(r["ok"] for r in results),
            "failed": [r for r in results if not r["ok"]], "results": results}
