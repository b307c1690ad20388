"""Fleet meters share what all meters could share (issue 15, memory): identity checks, not RSS.

Two meters of one fleet must hold the same board-section objects (read-only), the same COSEM
name index and profile layouts, and keep only their own identity, seeds and state apart. A
change that copies a shared table per meter again turns these red long before the memory
bench would notice."""
import pytest

from sumame.tools.fleet.fleet import FleetSpec, build_fleet

SHARED_SECTIONS = ("board", "meter", "registers", "metering", "storage", "broute", "power", "watchdog")


@pytest.fixture(scope="module")
def fleet():
    f = build_fleet(FleetSpec(meters=2, board="emulated-lv-fleet", retention_days=None, flash_pages=None))
    f.run(f.clock.now() + 3600)
    yield f
    f.close()


def _aroute(rt):
    return next(s for s in rt.meter.services if s.name == "a-route")


def test_board_sections_are_one_read_only_object_per_board_file(fleet):
    a, b = fleet.runtimes
    for name in SHARED_SECTIONS:
        assert a.board[name] is b.board[name], name
        assert a.config.options[name] is b.config.options[name], name
    assert a.board.values.maps[-1] is b.board.values.maps[-1]      # the board file's table
    with pytest.raises(TypeError):
        a.board["meter"]["digits"] = 6                               # shared: read-only
    assert a.board["meter"]["digits"] == 8


def test_per_meter_differences_are_kept_apart(fleet):
    a, b = fleet.runtimes
    assert a.board["identity"]["serial"] != b.board["identity"]["serial"]
    assert a.board["asic"]["seed"] != b.board["asic"]["seed"]
    own = set(b.board.values.maps[0])          # (the first board of a file may be the shared base)
    assert {"identity", "asic", "aroute"} <= own, own                # what differs is the meter's own
    base = b.board.values.maps[-1]
    for name in own:                         # only what differs from the file's shared table is its own
        assert dict(b.board[name]) != dict(base[name]), name
    assert "meter" not in own and "watchdog" not in own
    # the A-route reads the meter's own section in place, no copy per meter
    assert _aroute(a).section is a.board["aroute"]
    assert _aroute(a).section["serve_ip"] is False


def test_a_tool_patching_a_section_changes_only_its_board(fleet):
    a, b = fleet.runtimes
    shared = b.board["breaker"]
    a.board.values["breaker"] = {**a.board["breaker"], "marker": 1}
    try:
        assert "marker" in a.board["breaker"]
        assert b.board["breaker"] is shared and "marker" not in shared
    finally:
        del a.board.values["breaker"]
    assert a.board["breaker"] is b.board["breaker"]


def test_cosem_tables_are_shared(fleet):
    sa, sb = _aroute(fleet.runtimes[0]).server, _aroute(fleet.runtimes[1]).server
    assert sa is not sb and sa.objects[0] is not sb.objects[0]      # each meter its own live objects
    assert sa._index is sb._index                                    # one name index
    for minutes_ln in (b"\x01\x00\x63\x01\x00\xff",):
        pa, pb = sa.find(7, minutes_ln), sb.find(7, minutes_ln)
        if pa is not None:
            assert pa.capture_objects is pb.capture_objects           # one column layout
    profiles = [o for o in sa.objects if o.CLASS_ID == 7]
    others = {o.logical_name: o for o in sb.objects if o.CLASS_ID == 7}
    interval = [p for p in profiles if getattr(p.source, "period", 0)]
    assert interval, "no interval profiles found"
    for p in interval:
        assert p.capture_objects is others[p.logical_name].capture_objects
    # the shared index still finds each meter's own object
    ln = sa.objects[-1].logical_name
    assert sa.find(sa.objects[-1].CLASS_ID, ln) is sa.objects[-1]
    assert sb.find(sb.objects[-1].CLASS_ID, ln) is sb.objects[-1]


def test_compact_flash_keeps_its_wear_counters_in_the_arena(fleet):
    nvm = fleet.runtimes[0].built.hardware.nvm
    other = fleet.runtimes[1].built.hardware.nvm
    assert nvm.arena is other.arena
    assert not hasattr(nvm, "__dict__") or not any(type(v).__name__ == "array" and len(v) == nvm.page_count
                                                    for v in vars(nvm).values())
    page = nvm.page_count - 1
    before, theirs = nvm.erase_count(page), other.erase_count(page)
    nvm.erase(page)
    assert nvm.erase_count(page) == before + 1
    assert other.erase_count(page) == theirs                         # regions do not overlap
    lo, hi, _ = nvm.wear_summary()
    assert hi >= before + 1
