"""Tests that kill mutants ``sumame mutate`` found surviving in the safety modules.

Each test names the safety property it guards; the mutant it was written for is in its docstring."""
from sumame.drivers.emulated.storage.flash import EmulatedFlash
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.metrology.registers import Retention, Snapshot, grid_of
from sumame.firmware.storage.store import _PER_DAY, Storage, plan_layout

KEY = bytes(range(32))
START_MIN = 29_584_260                   # a JST midnight, minutes since the epoch


def _store(boot_retention, layout_retention=None, pages=64):
    clock = VirtualClock(START_MIN * 60.0)
    flash = EmulatedFlash(None, page_size=4096, page_count=pages)
    layout = plan_layout(4096, pages, layout_retention or boot_retention, event_pages=2, state_pages=2)
    store = Storage(flash, layout, KEY, clock)
    report = store.boot(boot_retention)
    return store, flash, layout, clock, report


def _fill_minutes(store, clock, count):
    for m in range(START_MIN, START_MIN + count):
        clock.advance_to(m * 60.0)
        store.append_snapshot(Snapshot(m, 1, m * 10, 0, 0, 0, 0, 0, 0))


# ------------------------------------------------------------------ storage: retention
def test_snapshots_per_day_are_the_real_counts_the_retention_is_sized_for():
    """storage.py ``range(0, 1440)`` -> ``range(1, 1440)``: midnight's 30-minute snapshot
    was left out of the sizing (the partitions then hold one value a day fewer than kept)."""
    assert _PER_DAY == {30: 48, 15: 48, 5: 192, 1: 1152}
    assert sum(_PER_DAY.values()) == 1440 and grid_of(START_MIN) == 30


def test_evicting_a_snapshot_before_its_retention_ends_is_counted_and_none_otherwise():
    """storage.py ``_retention is None`` -> ``is not None``: eviction was never checked, so a
    flash too small for the retention lost values without a warning."""
    small = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    store, *_, clock, _ = _store(Retention(days_30=1, days_15=1, days_5=1, minutes_1=6000), small)
    short_capacity = store.journals["short"].page_count * 4096 // 60
    _fill_minutes(store, clock, 2 * short_capacity)
    assert store.retention_shortfalls >= 1
    fitting, *_, clock, _ = _store(small)
    _fill_minutes(fitting, clock, 2 * short_capacity)
    assert fitting.retention_shortfalls == 0                           # no false warning


# ------------------------------------------------------------------ storage: superblock
def test_a_damaged_superblock_is_reported_as_corruption_a_torn_one_is_not():
    """storage.py ``data[0] == 0xFF`` -> ``data[-1]``: the commit byte, not the page's erased
    tail, tells a torn format from a damaged superblock."""
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    store, flash, layout, clock, _ = _store(retention)
    flash.flip_bit(5, 2)                                              # inside the committed body
    report = Storage(flash, layout, KEY, clock).boot(retention)
    assert "CORRUPTION: superblock damaged" in report.notes
    flash.erase(0)
    flash.program(1, layout.encode()[1:9])                            # a format cut before commit
    report = Storage(flash, layout, KEY, clock).boot(retention)
    assert any("superblock unreadable" in n for n in report.notes)
    assert "CORRUPTION: superblock damaged" not in report.notes


# ------------------------------------------------------------------ journal: sealed regions
def test_a_flash_fault_is_reported_once_not_again_at_every_boot():
    """journal.py ``cause != "bad-mac"`` -> ``cause > "bad-mac"``: unreadable bytes ("bad") in
    a region the journal sealed off were reported as corruption again at the next boot."""
    from sumame.firmware.storage.journal import OVERHEAD, Journal

    flash = EmulatedFlash(None, page_size=256, page_count=4)

    def boot():
        journal = Journal(flash, 0, 4, name="t", key=KEY)
        return journal, journal.recover()

    journal, _ = boot()
    for v in range(2):
        journal.append(1, b"nnnn" + v.to_bytes(4, "big"))
    flash.flip_bit(2 * (OVERHEAD + 8), 3)                  # a bad bit where the next record goes
    journal, first = boot()
    assert [f.kind for f in first.findings] == ["corruption"]           # reported once ...
    for v in range(2, 6):
        journal.append(1, b"nnnn" + v.to_bytes(4, "big"))   # ... the page is sealed and left
    _, second = boot()
    assert len(second.records) == 6 and second.findings == []          # ... and not again


# ------------------------------------------------------------------ guard: device limit
def test_an_idle_client_frees_its_slot_and_an_active_one_does_not():
    """guard.py ``now - c.last_seen`` -> ``now // c.last_seen`` (idle clients never left, so
    the device limit locked real devices out for good) and -> ``now & c.last_seen`` in the
    event text (a TypeError at the moment a slot was freed)."""
    from sumame.firmware.core.clock import VirtualClock
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.routes.broute.guard import GuardOptions, HomeSideGuard

    t0 = 1_750_000_000.0
    events = EventLog(VirtualClock(t0))
    g = HomeSideGuard(events, GuardOptions(max_clients=2, idle_timeout_s=7200.0))
    assert g.admit(("ip", "a"), t0) and g.admit(("ip", "b"), t0 + 100.0)
    assert g.admit(("ip", "c"), t0 + 7250.0) is not None              # "a" idle 7250 s > 7200 s
    assert set(g.clients) == {("ip", "b"), ("ip", "c")}
    left = events.of_kind("b-route-client-left")
    assert [e.detail for e in left] == ["ip a idle for 7250 s"]
    assert g.admit(("ip", "d"), t0 + 7260.0) is None                   # "b" idle 7160 s: kept


def test_clients_on_a_medium_are_only_that_mediums_clients():
    """guard.py ``k[0] == medium`` -> ``k[1]``: notifications to each client of a medium
    without multicast went to no one."""
    from sumame.firmware.core.clock import VirtualClock
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.routes.broute.guard import HomeSideGuard

    g = HomeSideGuard(EventLog(VirtualClock(0.0)))
    g.admit(("ip", "192.0.2.1"), 0.0)
    g.admit(("wi-sun", "fe80::1"), 0.0)
    assert [c.address for c in g.clients_on("wi-sun")] == ["fe80::1"]
    assert [c.address for c in g.clients_on("ip")] == ["192.0.2.1"]


# ------------------------------------------------------------------ DLMS security: IC bound
def test_the_invocation_counter_is_exactly_32_bits_with_a_typed_error():
    """security.py ``ic <= 0xFFFFFFFF`` -> ``ic != 0xFFFFFFFF``: 2**32 escaped as an
    OverflowError (untyped) and the last valid counter was refused."""
    import pytest

    from sumame.firmware.net.dlms.security import EncodeError, hls_gmac, protect

    keys = dict(system_title=b"SUMAME01", ek=bytes(16), ak=bytes(16))
    assert protect(b"\xc0\x01", sc=0x30, invocation_counter=0xFFFFFFFF, **keys)[1:5] == b"\xff" * 4
    assert hls_gmac(b"x" * 16, invocation_counter=0xFFFFFFFF, **keys)[1:5] == b"\xff" * 4
    for bad in (2 ** 32, -1):
        with pytest.raises(EncodeError):
            protect(b"\xc0\x01", sc=0x30, invocation_counter=bad, **keys)
        with pytest.raises(EncodeError):
            hls_gmac(b"x" * 16, invocation_counter=bad, **keys)


def test_a_suite_0_key_must_be_exactly_16_bytes():
    """security.py ``not isinstance(...) or len(key) != 16`` -> ``and``: a 24- or 32-byte key
    was taken (another AES, not suite 0) and a short one failed untyped inside AES."""
    import pytest

    from sumame.firmware.net.dlms.security import EncodeError, protect

    for ek in (bytes(15), bytes(24), bytes(32)):
        with pytest.raises(EncodeError, match="16 bytes"):
            protect(b"\xc0\x01", sc=0x30, system_title=b"SUMAME01", invocation_counter=1,
                    ek=ek, ak=bytes(16))


# ------------------------------------------------------------------ breaker: timing
def test_a_negative_reclose_delay_is_refused():
    """breaker.py ``reclose_delay_s < 0`` -> ``< -1``: a board could set a reclose delay
    below zero (reclose the instant the breaker trips)."""
    import pytest

    from sumame.firmware.switchgear.breaker import BreakerConfig

    with pytest.raises(ValueError, match="invalid breaker timing"):
        BreakerConfig(reclose_delay_s=-0.5)
    assert BreakerConfig(reclose_delay_s=0.0).reclose_delay_s == 0.0


# ------------------------------------------------------------------ A-route: limiter threshold
def test_a_dlms_limiter_threshold_in_tenths_of_an_ampere_sets_that_contract_limit():
    """control_binding.py ``value // DECI_AMPERES`` -> ``+``, ``<<``, ``^``: the threshold the
    head-end wrote (0.1 A) reached the breaker as another ampere limit, and no test saw it."""
    import pytest

    from sumame.drivers.emulated.relay import EmulatedRelay
    from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig
    from sumame.firmware.switchgear.control import DLMS_HLS_CIPHERED, Authority, SwitchControl
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.net.dlms.cosem.control import ActionRefused
    from sumame.firmware.routes.aroute.control_binding import BreakerBinding
    from sumame.firmware.core.state import MemoryStateStore

    clock = VirtualClock(1_750_000_000)
    events, store = EventLog(clock), MemoryStateStore()
    breaker = Breaker(EmulatedRelay(), store, events, clock, BreakerConfig(limit_a=30))
    breaker.boot()
    binding = BreakerBinding(breaker, SwitchControl(breaker, store, events, clock))
    assert binding.threshold() == 300
    binding.authority = Authority(DLMS_HLS_CIPHERED, "4845530000000001|glo", 11, "client 0x30")
    binding.set_threshold(400, clock.now())
    assert breaker.limit_a == 40 and binding.threshold() == 400
    binding.authority = Authority(DLMS_HLS_CIPHERED, "4845530000000001|glo", 12, "client 0x30")
    with pytest.raises(ActionRefused, match="threshold 40.5 A is not whole amperes"):
        binding.set_threshold(405, clock.now())
    assert breaker.limit_a == 40


def test_a_clean_reboot_reads_the_superblock_without_a_note():
    """storage.py CRC slice ``data[1 + size:5 + size]`` -> ``5 << size``: every superblock
    failed its CRC, so each boot raised a false "CORRUPTION: superblock damaged"."""
    retention = Retention(days_30=1, days_15=1, days_5=1, minutes_1=60)
    _, flash, layout, clock, first = _store(retention)
    assert Storage(flash, layout, KEY, clock).boot(retention).notes == []


def test_a_stored_event_reads_back_unaltered():
    """storage.py ``payload[pos + 1:pos + 1 + n]`` -> ``pos + 1 ^ n``: event texts came back
    cut or padded after a reboot."""
    from sumame.firmware.core.events import MeterEvent, Severity
    from sumame.firmware.storage.store import decode_event, encode_event

    for detail in ("", "x", "over-current 41.0 A", "é" * 40):
        event = MeterEvent(1_750_000_000.5, "switch-trip", "breaker", detail, Severity.ALARM)
        assert decode_event(encode_event(event)) == event


# ------------------------------------------------------------------ DLMS association: titles
def test_general_glo_ciphering_from_another_system_title_is_refused():
    """association.py ``apdu.system_title != title`` -> ``==``: a general-glo request under a
    foreign system title was taken (with its own, fresh replay counter) and the associated
    client's own requests were refused."""
    import pytest

    from sumame.firmware.net.dlms.association import Association, SecuritySetup
    from sumame.firmware.net.dlms.errors import DecipheringError
    from sumame.firmware.net.dlms.security import cipher_apdu

    ek, ak, apdu = bytes(range(16)), bytes(range(16, 32)), b"\xc0\x01\xc1\x00\x01"
    assoc = Association(0x30, {}, security=SecuritySetup(b"SUMAME01", ek, ak))
    assoc.client_title = b"HES00001"
    foreign = cipher_apdu(apdu, sc=0x30, system_title=b"EVIL0001", invocation_counter=5,
                          ek=ek, ak=ak, kind="general")
    with pytest.raises(DecipheringError, match="another system title"):
        assoc.decipher(foreign)
    own = cipher_apdu(apdu, sc=0x30, system_title=b"HES00001", invocation_counter=5,
                      ek=ek, ak=ak, kind="general")
    plain, protection = assoc.decipher(own)
    assert plain == apdu and protection.invocation_counter == 5


# ------------------------------------------------------------------ audit917: survivors of make mutate
def test_a_blank_superblock_is_absent_and_the_first_boot_erases_nothing():
    """store.py ``count(0xFF) == len(data) - 1`` -> ``len(data) - 0``: an erased superblock
    page read as "never committed" (a torn first boot), so every first boot logged the
    superblock as unreadable and spent an erase on a blank page."""
    from sumame.firmware.storage.store import StorageLayout

    assert StorageLayout.decode(b"\xff" * 4096) is None
    store, flash, layout, _, report = _store(Retention(days_30=1, days_15=1, days_5=1, minutes_1=60))
    assert flash.erase_count(0) == 0
    assert not [n for n in report.notes if "superblock" in n], report.notes
    assert StorageLayout.decode(flash.read(0, 4096)) == layout


def test_the_plain_journal_scrub_reads_the_page_it_verifies():
    """journal.py verify_page ``(first_page + page) * page_size`` -> ``% page_size``: the
    scrub of a plain Journal (bootctl's) re-read bytes near address 0, not the page, so a
    flipped bit went unseen and a clean page could be flagged."""
    from sumame.firmware.storage.journal import Journal

    flash = EmulatedFlash(None, page_size=256, page_count=6)
    j = Journal(flash, 2, 4, name="plain", key=KEY)
    j.recover()
    for v in range(12):
        j.append(1, b"v" + v.to_bytes(7, "big"))
    page = j.write_page
    assert j.verify_page(page) == []
    (record,) = [r for r in j.records_in_ram() if r.payload == b"v" + (11).to_bytes(7, "big")]
    flash.flip_bit((2 + record.page) * 256 + record.offset + 12, 0)
    flagged = j.verify_page(page)
    assert [(p, o, kind) for p, o, kind, _ in flagged] == [(page, record.offset, "corruption")]


def test_the_guard_counts_every_rate_limited_frame_once():
    """guard.py ``counters["rate-limited"] += 1`` -> ``+= 2``: the B-route's rate-limit
    statistics (what an operator reads to see a flood) over- or under-counted refusals."""
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.routes.broute.guard import GuardOptions, HomeSideGuard, Verdict

    t0 = 1_750_000_000.0
    g = HomeSideGuard(EventLog(VirtualClock(t0)), GuardOptions(rate_per_s=1.0, burst=3, dos_drops=10**9))
    key = ("ip", "192.0.2.9")
    assert g.admit(key, t0) is not None
    verdicts = [g.check(key, t0 + i * 0.1) for i in range(50)]
    limited = verdicts.count(Verdict.RATE_LIMITED)
    assert limited > 30 and verdicts.count(Verdict.ACCEPT) + limited == 50
    assert g.counters["rate-limited"] == limited


def test_ciphering_refuses_a_system_title_that_is_not_8_bytes():
    """dlms security.py ``len(system_title) != 8`` -> ``< 8``: a 9-byte or longer title made
    a 13+-byte GCM IV (AES-GCM then hashes the IV, so titles no longer map one-to-one onto
    the 8 + 4-byte nonce the invocation counter de-duplicates) instead of a typed error."""
    import pytest

    from sumame.firmware.net.dlms.errors import EncodeError
    from sumame.firmware.net.dlms.security import SC_AUTHENTICATION, SC_ENCRYPTION, hls_gmac, protect

    ek, ak = bytes(range(16)), bytes(range(16, 32))
    for title in (b"T" * 7, b"T" * 9, b"T" * 16):
        with pytest.raises(EncodeError, match="system title must be 8 bytes"):
            protect(b"\xc0\x01", sc=SC_AUTHENTICATION | SC_ENCRYPTION, system_title=title,
                    invocation_counter=1, ek=ek, ak=ak)
        with pytest.raises(EncodeError, match="system title must be 8 bytes"):
            hls_gmac(b"challenge", system_title=title, invocation_counter=1, ek=ek, ak=ak)
    assert len(hls_gmac(b"challenge", system_title=b"T" * 8, invocation_counter=1, ek=ek, ak=ak)) == 17


def test_a_stroke_cut_by_power_loss_with_an_unreadable_contact_still_boots():
    """breaker.py boot note ``None if sensed is None else sensed.value`` -> ``if not sensed is
    None``: a power cut during a stroke followed by a boot whose auxiliary contact cannot be
    read raised AttributeError in boot, so the meter never came up (no metering, no switch)."""
    import pytest

    from sumame.drivers.emulated.relay import EmulatedRelay
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.core.state import MemoryStateStore
    from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig, BreakerMode
    from sumame.firmware.switchgear.command_source import CommandSource
    from sumame.hal.errors import PowerCut

    clock, relay, store = VirtualClock(1_750_000_000.0), EmulatedRelay(), MemoryStateStore()

    def breaker():
        events = EventLog(clock)
        b = Breaker(relay, store, events, clock, BreakerConfig(limit_a=30), supply_ok=lambda: True)
        b.boot()
        return b, events
    first, _ = breaker()
    relay.cut_power_on_next_drive(moved=False)
    with pytest.raises(PowerCut):
        first.command_open(CommandSource.A_ROUTE)
    relay.fail_sense(True)
    again, events = breaker()
    assert again.mode is BreakerMode.CLOSED                          # not retried, nothing driven
    boot = [e.detail for e in events if e.kind == "switch-boot"][-1]
    assert "interrupted by power loss; contact reads None; not retried" in boot


def _indexed(flash, first=5, pages=4):
    from sumame.firmware.storage.journal_index import IndexedJournal

    j = IndexedJournal(flash, first, pages, name="idx", key=KEY)
    return j, j.recover()


def test_the_indexed_journal_reads_records_back_from_their_own_pages():
    """journal_index.py _reread ``(first_page + page)`` -> ``(first_page | page)``: with a
    partition that does not start at a power of two, history re-read from flash came from
    another page, and the records of that page went missing from what the meter serves."""
    flash = EmulatedFlash(None, page_size=256, page_count=12)
    j, _ = _indexed(flash)
    values = [b"r" + v.to_bytes(7, "big") for v in range(14)]        # spans every page of the ring
    for v in values:
        j.append(1, v)
    assert len({r.page for r in j.records_in_ram()}) == 4
    again, recovery = _indexed(flash)
    assert [r.payload for r in again.records_in_ram()] == [r.payload for r in recovery.records
                                                          if r.payload in values]
    assert [r.payload for r in again.records_in_ram()][-5:] == values[-5:]


def test_the_scrub_does_not_flag_the_record_recovery_rolled_forward():
    """journal_index.py verify_page ``base + offset == self._finish`` -> ``base << offset``:
    a record whose commit byte a power cut left half-programmed is kept at boot and its commit
    finished at the next write; a scrub in between flagged it as corruption (a false alarm)."""
    from sumame.firmware.storage.journal import STATE_COMMITTED

    flash = EmulatedFlash(None, page_size=256, page_count=12)
    j, _ = _indexed(flash)
    for v in range(3):
        j.append(1, b"c" + v.to_bytes(7, "big"))
    last = j.records_in_ram()[-1]
    at = (5 + last.page) * 256 + last.offset
    image = bytearray(flash.image())
    assert image[at] == STATE_COMMITTED
    image[at] = 0x5A                               # the cut left some of the commit bits uncleared
    flash.load_image(bytes(image))
    again, recovery = _indexed(flash)
    assert [f.kind for f in recovery.findings] == ["torn"]
    assert again.verify_page(last.page) == []
    again.append(1, b"after")                      # finishes the commit first
    assert flash.read(at, 1) == bytes((STATE_COMMITTED,)) and again.verify_page(last.page) == []


def test_the_disconnect_control_reports_the_breakers_real_state_to_the_head_end():
    """aroute control_binding.py ``if not self.breaker.has_switch`` -> ``if not not ...``: an
    LV meter told the head-end CONNECTED (disconnect control attribute 3) while its switch was
    open, tripped or locked out, so the head-end could not see a disconnection it had ordered."""
    from sumame.drivers.emulated.relay import EmulatedRelay
    from sumame.firmware.core.events import EventLog
    from sumame.firmware.core.state import MemoryStateStore
    from sumame.firmware.net.dlms.cosem.control import ControlState
    from sumame.firmware.routes.aroute.control_binding import BreakerBinding
    from sumame.firmware.switchgear.breaker import Breaker, BreakerConfig
    from sumame.firmware.switchgear.command_source import CommandSource

    clock = VirtualClock(1_750_000_000.0)
    breaker = Breaker(EmulatedRelay(), MemoryStateStore(), EventLog(clock), clock, BreakerConfig(limit_a=30),
                      supply_ok=lambda: True)
    breaker.boot()
    binding = BreakerBinding(breaker, None)
    assert binding.control_state() is ControlState.CONNECTED and binding.output_state()
    breaker.command_open(CommandSource.A_ROUTE)
    assert binding.control_state() is ControlState.DISCONNECTED and not binding.output_state()
