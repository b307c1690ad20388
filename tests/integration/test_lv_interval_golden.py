"""Speed work must not change what the full-fidelity LV meter stores (issue 15): every snapshot
(so every 1/5/15/30-min interval value), every journal record, the whole NOR-flash image and the
event log of two scenarios are bit-identical to what main's code stored before the speed-ups
(``tests/fixtures/lv_intervals.json``; how it was produced: ``tests/support/interval_fixture.py``)."""
import json

import pytest

from tests.support.interval_fixture import FIXTURE, SCENARIOS, run


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_full_fidelity_meter_stores_exactly_what_it_stored_before(name):
    expected = json.loads(FIXTURE.read_text())[name]
    got = run(name)
    assert got["snapshots"] == expected["snapshots"] and got["last_snapshot"] == expected["last_snapshot"]
    assert got["sessions"] == expected["sessions"]
    assert got["journal_records"] == expected["journal_records"]
    assert got == expected   # digests: every snapshot, journal record, the flash image, events
