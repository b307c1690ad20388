"""The signed image codec: each refusal has its own kind; a good image verifies."""
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sumame.firmware.lifecycle.image import (PAYLOAD_OFFSET, ImageError, Policy, build_image,
                                             decode_header, sign_image, verify_image)

pytestmark = pytest.mark.lifecycle
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUB = KEY.public_key().public_bytes_raw()
POLICY = Policy("lv", (PUB,), security_floor=3, max_size=10_000)


def image(payload=b"bundle" * 100, target="lv", secver=3, key=KEY):
    raw = build_image(payload, target=target, version=(1, 2, 3), security_version=secver, build_id="b1")
    return raw if key is None else sign_image(raw, key)


def kind_of(data, policy=POLICY):
    with pytest.raises(ImageError) as err:
        verify_image(data, policy)
    return err.value.kind


def test_good_image_round_trips():
    header = verify_image(image(), POLICY)
    assert (header.version_text, header.security_version, header.build_id, header.target) == ("1.2.3", 3, "b1", "lv")
    assert decode_header(image()).payload_size == 600


def test_refusals_each_have_their_kind():
    good = image()
    assert kind_of(image(key=None)) == "unsigned"
    assert kind_of(image(key=Ed25519PrivateKey.generate())) == "unknown-key"
    assert kind_of(image(target="hv")) == "wrong-board"
    assert kind_of(image(secver=2)) == "downgrade"
    assert kind_of(good[:-1]) == "truncated"
    assert kind_of(good[:100]) == "truncated"
    assert kind_of(image(payload=bytes(20_000))) == "oversized"
    assert kind_of(b"X" + good[1:]) == "format"


@pytest.mark.parametrize("offset", [9 + 8, 20, 30, 62, 70, 100, PAYLOAD_OFFSET, PAYLOAD_OFFSET + 599])
def test_every_bit_flip_is_refused(offset):
    good = bytearray(image())
    for bit in range(8):
        flipped = bytearray(good)
        flipped[offset] ^= 1 << bit
        assert kind_of(bytes(flipped)) in ("bad-signature", "hash-mismatch", "format", "unknown-key",
                                           "truncated", "oversized")


def test_signature_bit_flip_is_a_bad_signature():
    flipped = bytearray(image())
    flipped[130] ^= 0x10
    assert kind_of(bytes(flipped)) == "bad-signature"
