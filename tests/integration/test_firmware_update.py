"""Firmware update on a running meter: refusals are security events, a broken image rolls back,
an interrupted transfer resumes, the security floor forbids downgrades, rot falls back."""
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lifecycle_helpers import START, push_image, runtime, signed_image, small_bundle
from sumame.firmware.lifecycle.bootloader import NoBootableImage
from sumame.firmware.lifecycle.update import TransferStatus, UpdateRefused
from sumame.firmware.routes.aroute.event_logs import SECURITY_CODES

pytestmark = pytest.mark.lifecycle


def started(at=START + 300):
    rt = runtime()
    rt.scheduler.run(until=at)
    return rt


def send(rt, image, **kw):
    rt.scheduler.spawn(push_image(rt.meter.lifecycle.agent, image, **kw), name="hes", group="hes")


def refused_events(rt):
    return [e for e in rt.meter.events if e.kind == "image-refused"]


def transfer_only(agent, image, skip=()):
    agent.initiate(b"img", len(image))
    for n in range(-(-len(image) // agent.block_size)):
        if n not in skip:
            agent.block(n, image[n * agent.block_size:(n + 1) * agent.block_size])


def test_update_commits_and_keeps_interval_data():
    rt = started()
    before = {s.minute: s for s in rt.meter.registers.snapshots()}
    send(rt, signed_image(build_id="new"))
    rt.scheduler.run(until=START + 900)
    lc = rt.meter.lifecycle
    assert rt.resets == 1 and lc.running.header.build_id == "new" and lc.self_test == "passed"
    assert lc.loader.control.boot.floor == 2 and not lc.running.trial
    after = {s.minute: s for s in rt.meter.registers.snapshots()}
    assert all(after.get(m) == s for m, s in before.items())
    assert rt.meter.metering.counters["forward"] >= max(s.forward_mwh for s in before.values())
    minutes = sorted(after)
    assert minutes == list(range(minutes[0], minutes[-1] + 1)), "metering stopped across the update"


@pytest.mark.parametrize("bad, kind", [
    (lambda: signed_image(key=Ed25519PrivateKey.generate()), "unknown-key"),
    (lambda: signed_image(target="hv", payload=small_bundle("hv")), "wrong-board"),
    (lambda: signed_image(security_version=0), "downgrade"),
    (lambda: signed_image()[:-7], "truncated"),
    (lambda: (lambda b: b[:3000] + bytes((b[3000] ^ 4,)) + b[3001:])(bytearray(signed_image())), "hash-mismatch"),
    (lambda: (lambda b: b[:140] + bytes((b[140] ^ 1,)) + b[141:])(bytearray(signed_image())), "bad-signature"),
])
def test_bad_images_are_refused_logged_and_reported(bad, kind):
    rt = started()
    agent = rt.meter.lifecycle.agent
    image = bytes(bad())
    with pytest.raises(UpdateRefused) as err:
        if kind == "truncated":   # a short transfer: the signed header names the full size
            agent.initiate(b"img", len(image))
            agent.block(0, image[:agent.block_size])
        transfer_only(agent, image)
        agent.verify()
    assert err.value.kind == kind
    with pytest.raises(UpdateRefused):
        agent.activate()
    events = refused_events(rt)
    assert events and events[0].detail.startswith(kind) and events[0].kind in SECURITY_CODES
    assert rt.meter.lifecycle.loader.control.boot.pending is None
    rt.scheduler.run(until=START + 900)
    assert rt.resets == 0 and rt.meter.lifecycle.running.slot == 0


def test_gaps_and_activation_without_verification_are_refused():
    rt = started()
    agent = rt.meter.lifecycle.agent
    image = signed_image()
    transfer_only(agent, image, skip={3})
    assert agent.first_missing() == 3
    with pytest.raises(UpdateRefused, match="state"):
        agent.activate()
    with pytest.raises(UpdateRefused, match="incomplete"):
        agent.verify()
    assert agent.status is TransferStatus.VERIFICATION_FAILED
    with pytest.raises(UpdateRefused, match="block"):
        agent.block(99, b"x")
    with pytest.raises(UpdateRefused, match="block"):
        agent.block(1, b"short")
    agent.block(3, image[3 * 512:4 * 512])
    agent.verify()
    agent.activate()
    rt.scheduler.run(until=START + 900)
    assert rt.meter.lifecycle.running.slot == 1


def test_interrupted_transfer_resumes_after_a_reboot():
    rt = started()
    image = signed_image(build_id="resumed")
    transfer_only(rt.meter.lifecycle.agent, image, skip={2, 5, 6})
    rt.request_reset()
    rt.scheduler.run(until=START + 400)
    agent = rt.meter.lifecycle.agent
    assert agent.status is TransferStatus.INITIATED
    assert agent.blocks_status() == [n not in (2, 5, 6) for n in range(len(agent.blocks_status()))]
    assert agent.first_missing() == 2
    agent.initiate(b"img", len(image))      # same identifier and size: resume, nothing erased
    assert agent.first_missing() == 2
    for n in (2, 5, 6):
        agent.block(n, image[n * 512:(n + 1) * 512])
    agent.verify()
    agent.activate()
    rt.scheduler.run(until=START + 900)
    assert rt.meter.lifecycle.running.header.build_id == "resumed"


def test_broken_bundle_fails_self_test_and_falls_back_by_itself():
    rt = started()
    send(rt, signed_image(payload=small_bundle(entry=False), build_id="broken"))
    rt.scheduler.run(until=START + 900)
    lc = rt.meter.lifecycle
    assert rt.resets == 2                                  # into the trial, and back
    assert lc.running.slot == 0 and not lc.running.trial
    kinds = [e.kind for e in rt.meter.events if e.source == "bootloader"]
    assert "update-rolled-back" in kinds and "firmware-committed" not in kinds
    assert lc.loader.control.boot.floor == 1               # the broken image did not raise the floor


def test_committed_floor_refuses_the_previous_image():
    rt = started()
    send(rt, signed_image(version=(0, 3, 0), security_version=5, build_id="v5"))
    rt.scheduler.run(until=START + 900)
    assert rt.meter.lifecycle.loader.control.boot.floor == 5
    agent = rt.meter.lifecycle.agent
    with pytest.raises(UpdateRefused, match="downgrade"):
        transfer_only(agent, signed_image(version=(0, 2, 9), security_version=4))


def test_rot_in_the_active_slot_falls_back_to_the_other_valid_image():
    rt = started()
    send(rt, signed_image(build_id="new", security_version=1))   # floor stays 1: A may still boot
    rt.scheduler.run(until=START + 900)
    assert rt.meter.lifecycle.running.slot == 1
    code = rt.built.emulated["code_flash"]
    slot_b = rt.meter.lifecycle.loader.slots[1]
    code.flip_bit(slot_b.first_page * code.page_size + 1000, 3)
    rt.request_reset()
    rt.scheduler.run(until=START + 1000)
    lc = rt.meter.lifecycle
    assert lc.running.slot == 0                            # the factory image still verifies (floor 1 <= 1)
    kinds = {e.kind for e in rt.meter.events if e.source == "bootloader"}
    assert {"image-invalid", "image-fallback"} <= kinds


def test_rot_with_only_an_image_below_the_floor_left_does_not_boot():
    rt = started()
    send(rt, signed_image(build_id="new", security_version=2))
    rt.scheduler.run(until=START + 900)
    code = rt.built.emulated["code_flash"]
    code.flip_bit(rt.meter.lifecycle.loader.slots[1].first_page * code.page_size + 1000, 3)
    rt.request_reset()
    with pytest.raises(NoBootableImage, match="downgrade"):
        rt.scheduler.run(until=START + 1000)


def test_oversized_and_tiny_images_are_refused_at_initiate():
    rt = started()
    agent = rt.meter.lifecycle.agent
    capacity = rt.meter.lifecycle.loader.layout.capacity
    with pytest.raises(UpdateRefused, match="oversized"):
        agent.initiate(b"big", capacity + 1)
    with pytest.raises(UpdateRefused, match="size"):
        agent.initiate(b"tiny", 10)
    assert agent.record is None and [e for e in refused_events(rt) if "oversized" in e.detail]
