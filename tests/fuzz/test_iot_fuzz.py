"""Random and mutated input on the IoT route: the codec raises only IotCodecError, and the
meter's Enhanced HAN coordinator survives arbitrary PSDUs (seeded, so failures reproduce)."""
import random

from sumame.drivers.emulated.air import Air, AirConfig
from sumame.drivers.emulated.iot.ehan import EhanCoordinator
from sumame.drivers.emulated.timeline import Timeline
from sumame.firmware.core.clock import VirtualClock
from sumame.firmware.net import ieee802154 as mac, lowpan
from sumame.firmware.net.lowpan import UdpDatagram
from sumame.firmware.routes.iot import codec as c

PARSERS = [c.decode, c.Hello.decode, c.parse_poll, c.parse_time, c.parse_ack, c.Values.decode, c.Alarm.decode,
           c.parse_history, c.parse_command, c.result_terminal, lambda b: c.open_result(b"k" * 16, b)]


def test_codec_raises_only_typed_errors():
    rng = random.Random(10)
    seeds = [c.encode(c.VALUES, 1, c.Values(c.KIND_WATER, 3600 * 5, ((1, 0),) * 3).encode()),
             c.SealedCommand(b"GAS00001", 1, 1, 0).seal(b"k" * 16), c.history_body(0, 3600)]
    for i in range(6000):
        if i % 2:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 60)))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            data = bytes(data[:rng.randrange(len(data) + 1)])
        for parse in PARSERS:
            try:
                parse(data)
            except c.IotCodecError:
                pass


class Host:
    def __init__(self):
        self.dropped = 0

    def iot_credential(self, addr):
        return (b"T0000001", b"p" * 16) if addr[-1] == 1 else None

    def iot_joined(self, addr, hops): ...

    def iot_left(self, addr, why): ...

    def iot_rx(self, addr, payload): ...

    def iot_dropped(self, addr, why):
        self.dropped += 1

    def iot_may_relay(self, addr):
        return True


def test_coordinator_survives_random_frames():
    rng = random.Random(11)
    tl = Timeline(VirtualClock(1_700_000_000.0))
    air = Air(tl, AirConfig())
    coord = EhanCoordinator(air, tl, b"\x00\x1d\x12\x90\x00\x00\x00\x09", channel=40, pan_id=0x1234, id_s=b"M")
    host = Host()
    coord.open(host)
    src = b"\x00\x1d\x12\xb0\x00\x00\x00\x01"
    good = []
    for port in (716, c.APP_PORT, 0xF0BF, 3610):
        dg = UdpDatagram(lowpan.link_local(src), lowpan.link_local(coord.mac), port, port, b"\x00\x00\x00\x01" * 4)
        good.append(mac.encode(mac.MacFrame(mac.FRAME_DATA, 1, 0x1234, coord.mac, src,
                                            lowpan.encode(dg, src, coord.mac))))
    for i in range(4000):
        psdu = bytearray(rng.choice(good))
        for _ in range(rng.randrange(1, 5)):
            psdu[rng.randrange(len(psdu))] = rng.randrange(256)
        psdu = bytes(psdu[:rng.randrange(3, len(psdu) + 1)])
        if i % 3 == 0:                     # keep the FCS valid so the frame reaches the upper layers
            psdu = psdu[:-2] + mac.fcs(psdu[:-2])
        coord.on_air_frame(psdu, 0xA8)
        tl.run_due()
    assert host.dropped > 0
