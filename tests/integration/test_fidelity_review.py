"""Independent review of issue 16 (fidelity): defects found by attacking `sumame emulate` from outside."""
import socket
import subprocess
import sys

CLI = [sys.executable, "-m", "sumame.tools.cli"]


def _get_e7(meter: str, me: str) -> bytes | None:
    """A Get of E7 sent from an ephemeral port of ``me``; the answer is awaited on ``me``:3610."""
    listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        listen.bind((me, 3610))
        listen.settimeout(3)
        send.bind((me, 0))
        send.sendto(bytes.fromhex("1081000705FF010288016201E700"), (meter, 3610))
        try:
            return listen.recvfrom(2048)[0]
        except socket.timeout:
            return None
    finally:
        listen.close()
        send.close()


def test_lv_emulate_serves_every_echonet_ip_given():
    """`--echonet-ip ADDR` says "repeat for several": on the LV board (Wi-Fi B-route) every
    address given is served, not only the first (the Wi-Fi lease used to carry one address)."""
    import tempfile
    with tempfile.TemporaryDirectory() as state:
        proc = subprocess.Popen([*CLI, "emulate", "--headless", "--state-dir", state, "--air-mode", "fast",
                                 "--status-interval", "1000", "--duration", "40", "--dlms-port", "0",
                                 "--echonet-ip", "127.16.61.1", "--echonet-ip", "127.16.61.2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            lines = [proc.stdout.readline()]
            while lines[-1].startswith(("sumame emulate", "endpoint", "route-b", "a-route")):
                lines.append(proc.stdout.readline())
            assert "endpoint echonet-udp 127.16.61.1:3610\n" in lines, lines
            assert "endpoint echonet-udp 127.16.61.2:3610\n" in lines, lines
            for meter in ("127.16.61.1", "127.16.61.2"):
                reply = _get_e7(meter, "127.16.61.9")
                assert reply is not None and reply[10] == 0x72, (meter, reply)
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_j11_dongle_keeps_its_factory_mac_across_restarts(tmp_path):
    """A real BP35C0-J11's EUI-64 is factory-programmed: restarting `sumame emulate` on the same
    state dir must not give the HEMS a new dongle (the SKSTACK personalities already keep theirs)."""
    from sumame.drivers.emulated.wisun.world import build_wisun_world

    macs = []
    for _ in range(2):
        world = build_wisun_world(personality="j11", serve=False, flash_dir=str(tmp_path))
        macs.append(world.hems_dongle.mac_hex)
    assert macs[0] == macs[1], macs
    assert (tmp_path / "hems-dongle-j11.flash.json").exists()


def test_a_set_that_changes_a_status_map_property_is_announced():
    """9D (status-change announcement map) lists 80 81 88: when a Set changes 81 (installation
    location) the meter announces the new value by INF (ECHONET Lite Part 2 §4.3.1 / Appendix:
    properties of the status-change map are announced when they change), to every client."""
    from sumame.firmware.net import echonet as el
    from sumame.tools.hems.sample_node import SampleNode

    with SampleNode("127.16.62.1", port=3610):
        listen = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        send = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listen.bind(("127.16.62.9", 3610))
        listen.settimeout(3)
        send.bind(("127.16.62.9", 0))
        try:
            meter = ("127.16.62.1", 3610)
            send.sendto(bytes.fromhex("1081000105FF01028801610181010A"), meter)   # SetC 81 = 0x0A
            frames = [el.decode(listen.recvfrom(2048)[0])]
            send.sendto(bytes.fromhex("1081000205FF01028801610181010A"), meter)   # same value again
            try:
                while True:
                    frames.append(el.decode(listen.recvfrom(2048)[0]))
            except socket.timeout:
                pass
        finally:
            listen.close()
            send.close()
    esvs = [(f.esv, f.tid) for f in frames]
    infs = [f for f in frames if f.esv is el.Esv.INF]
    assert (el.Esv.SET_RES, 1) in esvs and (el.Esv.SET_RES, 2) in esvs, esvs
    assert len(infs) == 1, esvs                      # announced once: the second Set changed nothing
    inf = infs[0]
    assert inf.seoj == el.Eoj(0x02, 0x88, 0x01) and [(p.epc, p.edt) for p in inf.props] == [(0x81, b"\x0a")]
