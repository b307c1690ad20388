"""A latching relay keeps its contact without power, so an emulated meter restarted on its state
directory finds the contact where it left it: a remote open survives the restart without a
false ``switch-mismatch`` alarm (before, the emulated relay came back closed and the breaker was
flagged stuck)."""
from sumame.drivers.emulated.relay import EmulatedRelay
from sumame.firmware.switchgear.command_source import CommandSource
from sumame.hal.jst import parse_jst
from sumame.hal.relay import ContactState
from sumame.tools.emulate.runtime import build_runtime

START = parse_jst("2026-04-01T00:00")


def _kinds(rt) -> list[str]:
    return [e.kind for e in rt.meter.events.recent(200)]


def test_a_remote_open_survives_a_restart_on_the_state_dir(tmp_path):
    rt = build_runtime("emulated-lv", virtual=True, start_epoch=START, state_dir=tmp_path, poll_interval_s=60)
    rt.scheduler.run(until=START + 120)
    breaker = rt.meter.switchgear.breaker
    breaker.command_open(CommandSource.A_ROUTE)
    opened = breaker.mode
    rt.scheduler.run(until=START + 300)
    assert rt.built.emulated["relay"].contact is ContactState.OPEN
    rt.meter.shutdown()
    rt.close()

    again = build_runtime("emulated-lv", virtual=True, start_epoch=START + 400, state_dir=tmp_path,
                          poll_interval_s=60)
    again.scheduler.run(until=START + 600)
    assert again.built.emulated["relay"].contact is ContactState.OPEN
    assert "switch-mismatch" not in _kinds(again)
    after = again.meter.switchgear.breaker
    assert after.mode is opened and not after._rec.stuck      # still open, not flagged stuck
    assert again.meter.metering.present.power_w == 0          # the load is still disconnected
    again.meter.shutdown()
    again.close()


def test_the_contact_and_operation_count_are_kept_and_a_bad_file_is_ignored(tmp_path, caplog):
    path = tmp_path / "relay.bin"
    relay = EmulatedRelay(path=path)
    relay.drive(ContactState.OPEN)
    relay.drive(ContactState.OPEN)
    back = EmulatedRelay(path=path)
    assert (back.contact, back.operations) == (ContactState.OPEN, 2)
    path.write_bytes(b"garbage")
    fresh = EmulatedRelay(path=path)
    assert (fresh.contact, fresh.operations) == (ContactState.CLOSED, 0)
    assert "relay state" in caplog.text and "unreadable" in caplog.text
