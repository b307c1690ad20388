"""The journal's fast CRC-32 and HMAC-SHA256 equal the independent implementations the record
format is specified with (crcmod "crc-32", cryptography's HMAC), for every key length."""
import os

import crcmod.predefined
from cryptography.hazmat.primitives import hashes, hmac

from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.storage.journal import TAG_SIZE, Journal, _crc32


def test_crc32_is_crcmod_crc32():
    reference = crcmod.predefined.mkPredefinedCrcFun("crc-32")
    for n in (0, 1, 17, 56, 94, 4096):
        data = os.urandom(n)
        assert _crc32(data) == reference(data)


def test_tag_is_hmac_sha256_of_name_and_body():
    for key_len in (16, 32, 64, 65, 100):
        key = os.urandom(key_len)
        journal = Journal(EmulatedFlash(None, page_size=256, page_count=4), 0, 4, name="long", key=key)
        for n in (0, 5, 74):
            body = os.urandom(n)
            mac = hmac.HMAC(key, hashes.SHA256())
            mac.update(b"long" + body)
            assert journal._tag(body) == mac.finalize()[:TAG_SIZE]
