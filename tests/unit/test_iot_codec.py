"""The IoT-route application codec (our own design): round trips, typed errors, sealed commands."""
import pytest

from sumame.firmware.routes.iot import codec as c


def test_values_round_trip_and_hours():
    v = c.Values(c.KIND_GAS, 1775059200, ((1000, 0), (1040, c.FLAG_VALVE_CLOSED)))
    msg = c.decode(c.encode(c.VALUES, 7, v.encode()))
    assert (msg.type, msg.msg_id) == (c.VALUES, 7)
    back = c.Values.decode(msg.body)
    assert back == v
    assert list(back.hours()) == [(1775059200, 1000, 0), (1775062800, 1040, c.FLAG_VALVE_CLOSED)]


@pytest.mark.parametrize("data, why", [
    (b"\x01\x10", "shorter"),
    (b"\x02\x10\x00\x01", "version"),
    (b"\x01\x7f\x00\x01", "unknown message type"),
])
def test_bad_headers_are_typed_errors(data, why):
    with pytest.raises(c.IotCodecError, match=why):
        c.decode(data)


def test_bad_bodies_are_typed_errors():
    with pytest.raises(c.IotCodecError):
        c.Values.decode(b"\x01" + (1775059200).to_bytes(4, "big") + b"\x03" + b"\x00" * 5)   # 3 announced, 1 given
    with pytest.raises(c.IotCodecError, match="hour boundary"):
        c.Values.decode(c.Values(c.KIND_GAS, 1775059201 - 1, ()).encode()[:1] + (1775059201).to_bytes(4, "big") + b"\x00")
    with pytest.raises(c.IotCodecError):
        c.Alarm.decode(b"\x63" + b"\x00" * 5)                # unknown alarm code
    with pytest.raises(c.IotCodecError):
        c.parse_history(c.history_body(2000, 1000))          # reversed range
    with pytest.raises(c.IotCodecError):
        c.Hello.decode(b"\x09" + b"\x00" * 10)               # unknown kind


def test_sealed_command_tag_and_forgery():
    key = bytes(range(16))
    blob = c.SealedCommand(b"GAS00001", 5, c.OP_CLOSE, 1775059200).seal(key)
    cmd, plain, tag = c.parse_command(blob)
    assert cmd.counter == 5 and cmd.op == c.OP_CLOSE
    assert c.command_tag_ok(key, plain, tag)
    forged = bytearray(blob)
    forged[12] ^= 0x03                                      # op changed in transit
    _, plain2, tag2 = c.parse_command(bytes(forged))
    assert not c.command_tag_ok(key, plain2, tag2)
    assert not c.command_tag_ok(bytes(16), plain, tag)      # another terminal's key


def test_sealed_result_is_checked():
    key = b"k" * 16
    blob = c.SealedResult(b"GAS00001", 5, c.RESULT_OK, False, c.ALARM_LEAK).seal(key)
    res = c.open_result(key, blob)
    assert (res.counter, res.result, res.valve_open) == (5, c.RESULT_OK, False)
    assert c.result_terminal(blob) == (b"GAS00001", 5)
    with pytest.raises(c.IotCodecError, match="bad tag"):
        c.open_result(key, blob[:-1] + bytes([blob[-1] ^ 1]))
