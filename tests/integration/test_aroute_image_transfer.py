"""DLMS image transfer (class 18) from the head-end: update, resume, refusals, access rules."""
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from aroute_helpers import head_end, meter, open_session, run, settings
from lifecycle_helpers import signed_image, small_bundle
from sumame.firmware.net.dlms import axdr
from sumame.firmware.routes.aroute import obis_codes as oc
from sumame.firmware.routes.aroute.event_logs import SECURITY_CODES
from sumame.firmware.routes.aroute.server import READER_SAP
from sumame.tools.hes.session import DlmsRefused
from sumame.tools.hes.lifecycle.update import IMAGE_TRANSFER, campaign, identifier_of, update_meter

pytestmark = pytest.mark.lifecycle


def test_head_end_updates_a_meter_over_the_a_route():
    rt = meter()
    hes = head_end(rt)
    image = signed_image(build_id="over-dlms")
    lines = []
    result = run(rt, update_meter(hes, next(iter(hes.meters)),
                                  image, progress=lambda m, t: lines.append(t)))
    assert result["ok"], result
    assert result["firmware"].startswith("0.2.0 over-dlms B") and result["status"] == "activated"
    assert rt.meter.lifecycle.running.header.build_id == "over-dlms" and rt.resets == 1
    assert any(t.startswith("blocks ") for t in lines) and "verified" in lines


def test_interrupted_transfer_resumes_with_the_missing_blocks_only():
    rt = meter()
    hes = head_end(rt)
    mid = next(iter(hes.meters))
    image = signed_image(build_id="resumed")

    async def half():
        async with hes.session(hes.meter(mid)) as s:
            await s.action(18, IMAGE_TRANSFER, 1, axdr.structure(axdr.octet_string(identifier_of(image)),
                                                                  axdr.double_long_unsigned(len(image))))
            for n in range(4):
                await s.action(18, IMAGE_TRANSFER, 2, axdr.structure(
                    axdr.double_long_unsigned(n), axdr.octet_string(image[n * 512:(n + 1) * 512])))
            return (await s.get(18, IMAGE_TRANSFER, 4)).value
    assert run(rt, half()) == 4
    rt.request_reset()                         # the meter restarts mid-transfer
    rt.scheduler.run_for(5)
    result = run(rt, update_meter(hes, mid, image))
    assert result["ok"] and result["sent"] == result["blocks"] - 4, result["detail"]


def test_refused_image_is_reported_to_the_head_end():
    rt = meter()
    hes = head_end(rt)
    mid = next(iter(hes.meters))
    result = run(rt, update_meter(hes, mid, signed_image(key=Ed25519PrivateKey.generate())))
    assert not result["ok"] and "transfer" in result["detail"]

    async def read_back():
        async with hes.session(hes.meter(mid)) as s:
            status = (await s.get(18, IMAGE_TRANSFER, 6)).value
            log = await s.get(7, oc.SECURITY_LOG, 2)
        return status, [row.value[1].value for row in log.value]
    status, codes = run(rt, read_back())
    assert status == 4                                  # verification failed
    assert SECURITY_CODES["image-refused"] in codes
    assert rt.resets == 0 and rt.meter.lifecycle.running.slot == 0


def test_broken_bundle_is_reported_as_fallen_back():
    rt = meter()
    hes = head_end(rt)
    mid = next(iter(hes.meters))
    result = run(rt, update_meter(hes, mid, signed_image(payload=small_bundle(entry=False), build_id="broken")))
    assert not result["ok"] and result["status"] == "activation failed", result
    assert result["firmware"].endswith(" A")


def test_reader_association_cannot_touch_image_transfer():
    rt = meter()

    async def try_it():
        s = await open_session(rt, settings(rt, READER_SAP))
        with pytest.raises(DlmsRefused):
            await s.get(18, IMAGE_TRANSFER, 6)
        with pytest.raises(DlmsRefused):
            await s.action(18, IMAGE_TRANSFER, 1, axdr.structure(axdr.octet_string(b"x"),
                                                                  axdr.double_long_unsigned(1000)))
        await s.release()
    run(rt, try_it())
    assert rt.meter.lifecycle.agent.record is None


def test_campaign_updates_a_share_at_a_time():
    rt = meter()
    hes = head_end(rt)
    mid = next(iter(hes.meters))
    lines = []
    out = run(rt, campaign(hes, [mid], signed_image(build_id="wave"), share=0.5,
                           progress=lambda m, t: lines.append((m, t))))
    assert out["updated"] == 1 and not out["failed"]
    assert ("campaign", "1/1 meters, 1 updated, 0 failed") in lines
