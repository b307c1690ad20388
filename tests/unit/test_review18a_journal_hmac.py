"""Review: the journal's record tag (key pads kept as bytes) is HMAC-SHA256(key, name | body)
truncated, for every key length (empty, < 64, 64, > 64 bytes: hashed first), every name."""
import hmac
import random
from types import SimpleNamespace

from sumame.firmware.storage.journal import TAG_SIZE, Journal

NAMES = ["state", "long", "mid", "short", "events", "extlog", "x" * 40, ""]


def test_tags_equal_stdlib_hmac_on_random_records():
    rnd = random.Random(1818)
    for key_len in (0, 1, 16, 32, 63, 64, 65, 100, 200):
        key = bytes(rnd.randrange(256) for _ in range(key_len))
        for name in NAMES:
            j = SimpleNamespace(_key=key, _name_bytes=name.encode(), _hmac_pads=None)
            for _ in range(20):
                body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 300)))
                want = hmac.new(key, name.encode() + body, "sha256").digest()[:TAG_SIZE]
                assert Journal._tag(j, body) == want, (key_len, name)


def test_tag_does_not_mix_journals_or_keys():
    a = SimpleNamespace(_key=b"k" * 32, _name_bytes=b"long", _hmac_pads=None)
    b = SimpleNamespace(_key=b"k" * 32, _name_bytes=b"mid", _hmac_pads=None)
    c = SimpleNamespace(_key=b"j" * 32, _name_bytes=b"long", _hmac_pads=None)
    body = b"\x01" * 40
    assert len({Journal._tag(x, body) for x in (a, b, c)}) == 3
    assert Journal._tag(a, body) == Journal._tag(a, body)   # the cached pads are not consumed
