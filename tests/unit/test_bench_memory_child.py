"""The memory bench's child reports its own peak RSS, not the parent's (ru_maxrss would carry
the parent's peak across fork + exec, so N and 2N meters read the same figure after any
earlier bench in the parent)."""
import sys

import pytest

from sumame.tools.bench.scale import FLEET, _rss_kib


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)")
def test_child_peak_is_its_own_after_a_large_parent_peak():
    big = bytearray(160 * 1024 * 1024)
    big[::4096] = b"\x01" * len(range(0, len(big), 4096))      # touch every page: parent peak >= 160 MiB
    del big
    figures = _rss_kib(1, 0.01, FLEET)
    assert 0 < figures["rss_kib"] < 150 * 1024, figures
