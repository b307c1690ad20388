"""Any bytes given as a firmware image, and any change to a good one, end in a typed ImageError
(or, for an unchanged image, success) — never another exception; the update agent refuses
arbitrary blocks with UpdateRefused and keeps its state machine consistent."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifecycle_helpers import signed_image
from sumame.boards.build import emulation_release_key
from sumame.firmware.lifecycle.image import ImageError, Policy, decode_header, verify_image

pytestmark = pytest.mark.lifecycle
GOOD = signed_image()
POLICY = Policy("lv", (emulation_release_key().public_key().public_bytes_raw(),), 1, 1 << 20)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_are_refused_with_a_typed_error(data):
    with pytest.raises(ImageError):
        verify_image(data, POLICY)
    try:
        decode_header(data)
    except ImageError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD) - 1), st.integers(1, 255), st.integers(0, len(GOOD)))
def test_any_change_to_a_signed_image_is_refused(offset, xor, cut):
    changed = bytearray(GOOD)
    changed[offset] ^= xor
    with pytest.raises(ImageError):
        verify_image(bytes(changed), POLICY)
    if cut < len(GOOD):
        with pytest.raises(ImageError):
            verify_image(GOOD[:cut], POLICY)
