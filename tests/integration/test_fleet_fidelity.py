"""Fidelity is a board choice: the same scenario on the full-fidelity boards (register-level chip
behind SPI, NOR-flash image) and on the fleet boards (HAL-level chip, compact flash arena) gives
the same stored interval values — in every meter's registers and in the head-end's store."""
from sumame.tools.fleet.fleet import FleetSpec
from sumame.tools.fleet.hes_fleet import FleetScenario, PlannedOutage, run_scenario

HOUR = 3600.0


def _run(board: str):
    # the fleet board's shared load days on both boards: the same scenario, two fidelities
    spec = FleetSpec(meters=3, hv_every=3, board=board, asic={"profile_options": {"shared_days": 4}})
    start = spec.start_epoch
    scenario = FleetScenario(spec=spec, days=0.5,
                             outages=[PlannedOutage(1, start + 3 * HOUR + 7 * 60, 50 * 60)])
    r = run_scenario(scenario)
    meters = []
    for rt in r.fleet.runtimes:
        snaps = [s.pack() for s in rt.meter.registers.snapshots()]
        journal = [rec.payload for name in ("long", "mid", "short")
                   for rec in rt.meter.storage.journals[name].records_in_ram()]
        meters.append((type(rt.built.hardware.asic).__name__, type(rt.built.hardware.nvm).__name__,
                       snaps, journal))
    rows = r.hes.store.intervals(grid=30)
    r.fleet.close()
    return meters, rows


def test_fleet_boards_store_the_same_intervals_as_full_fidelity():
    full, full_rows = _run("emulated-lv")
    fleet, fleet_rows = _run("emulated-lv-fleet")
    assert [m[:2] for m in full] == [("Atm90e32", "EmulatedFlash")] * 3
    assert [m[:2] for m in fleet] == [("HalMeteringAsic", "CompactNvm")] * 3
    for (_, _, snaps_a, journal_a), (_, _, snaps_b, journal_b) in zip(full, fleet):
        assert len(snaps_a) > 100 and len(journal_a) > 100
        assert snaps_a == snaps_b          # every snapshot the registers hold (all grids)
        assert journal_a == journal_b      # every snapshot record on flash
    assert len(full_rows) > 30
    assert [r for r in full_rows if r["forward_wh"] is None], "the outage must leave no-data slots"
    assert full_rows == fleet_rows         # every 30-min value the head-end stored
