"""EAP-PSK and PANA state machines: vectors, handshake, failure, replay, lifetime, re-auth."""
from __future__ import annotations

import random

import pytest

from sumame.firmware.net import eap_psk, pana_codec
from sumame.firmware.net.pana import PanaPaa, PanaPac, Retransmit

RBID = "0123456789ABCDEF0123456789ABCDEF"
PASSWORD = "0123456789AB"


def rng_bytes(seed):
    rng = random.Random(seed)
    return lambda n: bytes(rng.getrandbits(8) for _ in range(n))


def test_eax_matches_published_vectors():
    # EAX paper (Bellare, Rogaway, Wagner) test vectors 1 and 2
    c, tag = eap_psk.eax_encrypt(bytes.fromhex("233952DEE4D5ED5F9B9C6D6FF80FF478"),
                                 bytes.fromhex("62EC67F9C3A4A407FCB2A8C49031A8B3"),
                                 bytes.fromhex("6BFB914FD07EAE6B"), b"")
    assert (c + tag).hex().upper() == "E037830E8389F27B025A2D6527E79D01"
    c, tag = eap_psk.eax_encrypt(bytes.fromhex("91945D3F4DCBEE0BF45EF52255F095A4"),
                                 bytes.fromhex("BECAF043B0A23D843194BA972C66DEBD"),
                                 bytes.fromhex("FA3BFD4806EB53FA"), bytes.fromhex("F7FB"))
    assert (c + tag).hex().upper() == "19DD5C4C9331049D0BDAB0277408F67967E5"
    assert eap_psk.eax_decrypt(bytes.fromhex("91945D3F4DCBEE0BF45EF52255F095A4"),
                               bytes.fromhex("BECAF043B0A23D843194BA972C66DEBD"),
                               bytes.fromhex("FA3BFD4806EB53FA"), c, tag) == bytes.fromhex("F7FB")
    with pytest.raises(eap_psk.EapAuthError):
        eap_psk.eax_decrypt(bytes(16), bytes(16), b"", c, tag)


def test_cmac_rfc4493_vector():
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert eap_psk.aes_cmac(key, bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")).hex() == \
        "070a16b46b4d4144f79bdd9dd04a287c"


def test_key_hierarchy_and_password_derivation_vectors():
    ak, kdk = eap_psk.derive_ak_kdk(bytes(range(16)))
    assert ak.hex() == "18b62d2c84c5e4571afc41a29db71f4d"
    assert kdk.hex() == "97b704350085028363924612565b9b0d"
    tek, msk, emsk = eap_psk.derive_session_keys(kdk, bytes(range(16, 32)))
    assert tek.hex() == "4a60ff36b8435790bfc64569b677d613"
    assert msk.hex().startswith("3d57fffaa740360b2b43888b4ce41fa5") and len(msk) == 64 and len(emsk) == 64
    d = eap_psk.Rfc4764AppendixA()
    assert d.derive(RBID, PASSWORD, RBID.encode()).hex() == "e3126d8362e31b3de9e0d3daa21ae81c"
    assert d.derive(RBID, PASSWORD, b"meter").hex() == "7f2fb17054b0bbc6fad0199305bf7c81"
    assert eap_psk.RawPsk(b"k" * 16).derive(RBID, PASSWORD, b"") == b"k" * 16


def test_eap_psk_messages_have_rfc_lengths_and_wrong_psk_fails():
    s = eap_psk.EapPskServer(b"a" * 16, b"srv", random_bytes=rng_bytes(1))
    p = eap_psk.EapPskPeer(b"a" * 16, b"peer", random_bytes=rng_bytes(2))
    m1 = s.start()
    m2 = p.handle(m1)
    m3 = s.handle(m2)
    assert len(m3) == 59
    m4 = p.handle(m3)
    assert len(m4) == 43
    ok = s.handle(m4)
    assert eap_psk.decode_eap(ok).code == eap_psk.EAP_SUCCESS
    p.handle(ok)
    assert s.success and p.success and s.msk == p.msk and len(s.msk) == 64
    s2 = eap_psk.EapPskServer(b"a" * 16, b"srv", random_bytes=rng_bytes(3))
    p2 = eap_psk.EapPskPeer(b"b" * 16, b"peer", random_bytes=rng_bytes(4))
    fail = s2.handle(p2.handle(s2.start()))
    assert eap_psk.decode_eap(fail).code == eap_psk.EAP_FAILURE
    assert s2.done and not s2.success and "MAC_P" in s2.failure_reason


class Link:
    """Carries PANA messages between a PAA and a PaC at a given time, optionally recording."""

    def __init__(self, paa, pac):
        self.paa, self.pac = paa, pac
        self.log: list[tuple[str, bytes]] = []

    def run(self, now, from_pac=(), from_paa=()):
        queue = [("pac", m) for m in from_pac] + [("paa", m) for m in from_paa]
        while queue:
            who, m = queue.pop(0)
            self.log.append((who, m))
            if who == "pac":
                queue += [("paa", x) for x in self.paa.receive(m, now)]
            else:
                queue += [("pac", x) for x in self.pac.receive(m, now)]


def make(password_pac=PASSWORD, lifetime=900, seed=0):
    derive = eap_psk.DEFAULT_DERIVATION.derive
    paa = PanaPaa(psk=derive(RBID, PASSWORD, RBID.encode()), id_s=RBID.encode(), expected_id_p=RBID.encode(),
                  lifetime_s=lifetime, random_bytes=rng_bytes(seed + 1))
    pac = PanaPac(psk=derive(RBID, password_pac, RBID.encode()), id_p=RBID.encode(),
                  random_bytes=rng_bytes(seed + 2))
    return paa, pac, Link(paa, pac)


def kinds(machine):
    return [e.kind for e in machine.pop_events()]


def test_handshake_message_sequence_and_keys():
    paa, pac, link = make()
    link.run(0.0, from_pac=pac.start(0.0))
    names = [pana_codec.decode(m).name for _, m in link.log]
    assert names == ["PCI", "PAR[S]", "PAN[S]", "PAR", "PAN", "PAR", "PAN", "PAR[C]", "PAN[C]"]
    par_c = pana_codec.decode(link.log[7][1])
    assert [a.code for a in par_c.avps] == [7, 2, 4, 8, 1]        # Result, EAP, Key-Id, Lifetime, AUTH
    assert par_c.avp(pana_codec.AVP_SESSION_LIFETIME).u32 == 900
    assert len(par_c.avp(pana_codec.AVP_AUTH).value) == 16
    assert kinds(paa) == ["authenticated"] and kinds(pac) == ["authenticated"]
    assert paa.link_key == pac.link_key and len(paa.link_key.key) == 16


def test_wrong_password_rejected_on_both_sides():
    paa, pac, link = make(password_pac="WRONGPASSWRD")
    link.run(0.0, from_pac=pac.start(0.0))
    par_c = pana_codec.decode(link.log[-2][1])
    assert par_c.name == "PAR[C]" and par_c.avp(pana_codec.AVP_RESULT_CODE).u32 == 1
    assert par_c.avp(pana_codec.AVP_AUTH) is None and par_c.avp(pana_codec.AVP_KEY_ID) is None
    assert kinds(paa) == ["auth-failed"] and kinds(pac) == ["auth-failed"]
    assert paa.link_key is None and pac.link_key is None


def _ping(pac, now):
    from sumame.firmware.net.pana_codec import FLAG_P, PNR
    return pac._request(PNR, FLAG_P, [], now)


def test_replayed_messages_are_dropped_and_counted():
    paa, pac, link = make()
    link.run(0.0, from_pac=pac.start(0.0))
    kinds(paa), kinds(pac)
    old_par = link.log[3][1]           # PAR(Nonce, PSK-1) of the handshake
    assert pac.receive(old_par, 10.0) == []
    assert pac.stats["bad-auth"] == 1      # a pre-SA message carries no AUTH: dropped once the SA exists
    ping1 = _ping(pac, 20.0)
    answer = paa.receive(ping1, 20.0)
    assert pana_codec.decode(answer[0]).name == "PNA[P]"
    assert paa.receive(ping1, 21.0) == answer      # the last request again: cached answer, nothing else
    assert paa.stats["duplicate"] == 1
    pac.receive(answer[0], 21.0)
    ping2 = _ping(pac, 30.0)
    pac.receive(paa.receive(ping2, 30.0)[0], 30.0)
    assert paa.receive(ping1, 31.0) == []          # an older request: replay
    assert paa.stats["replay"] == 1
    forged = bytearray(ping2)
    forged[-1] ^= 1
    assert paa.receive(bytes(forged), 32.0) == []
    assert paa.stats["bad-auth"] == 1
    link.log.clear()
    link.run(100.0, from_pac=pac.reauthenticate(100.0))
    assert kinds(paa) == ["reauthenticated"]
    pnr = link.log[0][1]
    assert paa.receive(pnr, 101.0) == []           # sealed with the previous SA key
    assert paa.stats["bad-auth"] == 2
    assert paa.state == "open" and pac.state == "open"


def test_pac_reauthenticates_at_80_percent_and_gets_new_key():
    paa, pac, link = make(lifetime=1000)
    link.run(0.0, from_pac=pac.start(0.0))
    key1 = pac.link_key
    kinds(paa), kinds(pac)
    assert pac.next_deadline() == pytest.approx(800.0)
    link.run(800.0, from_pac=pac.tick(800.0))
    assert kinds(pac) == ["reauthenticated"] and kinds(paa) == ["reauthenticated"]
    assert pac.link_key != key1 and pac.link_key == paa.link_key
    assert pac.link_key.index == (key1.index + 1) & 0xFF


def test_lifetime_lapses_without_reauth():
    paa, pac, link = make(lifetime=100)
    pac.auto_reauth = False
    link.run(0.0, from_pac=pac.start(0.0))
    kinds(paa), kinds(pac)
    assert pac.tick(100.0) == [] and kinds(pac) == ["expired"]
    out = paa.tick(100.0)
    assert kinds(paa) == ["expired"]
    assert pana_codec.decode(out[0]).name == "PTR"
    assert pana_codec.decode(out[0]).avp(pana_codec.AVP_TERMINATION_CAUSE).u32 == pana_codec.CAUSE_SESSION_TIMEOUT


def test_termination_both_ways():
    paa, pac, link = make()
    link.run(0.0, from_pac=pac.start(0.0))
    kinds(paa), kinds(pac)
    link.run(5.0, from_pac=pac.terminate(5.0))
    assert kinds(pac) == ["terminated"] and kinds(paa) == ["terminated-by-peer"]
    paa2, pac2, link2 = make(seed=5)
    link2.run(0.0, from_pac=pac2.start(0.0))
    kinds(paa2), kinds(pac2)
    link2.run(5.0, from_paa=paa2.terminate(5.0))
    assert kinds(paa2) == ["terminated"] and kinds(pac2) == ["terminated-by-peer"]


def test_silent_paa_makes_pac_give_up_after_retransmissions():
    pac = PanaPac(psk=b"k" * 16, id_p=b"id", random_bytes=rng_bytes(9), retransmit=Retransmit(2, 8, 5))
    sent = pac.start(0.0)
    t, resent = 0.0, 0
    while pac.next_deadline() is not None:
        t = pac.next_deadline()
        resent += len(pac.tick(t))
    assert resent == 5 and t == pytest.approx(38.0)
    assert [e.kind for e in pac.pop_events()] == ["auth-failed"]
    assert pana_codec.decode(sent[0]).name == "PCI"


def test_codec_rejects_malformed_with_reason():
    ok = pana_codec.PanaMessage(2, 0x8000, 1, 2, (pana_codec.u32(8, 900),)).encode()
    assert pana_codec.decode(ok).avp(8).u32 == 900
    with pytest.raises(pana_codec.PanaError, match="length field"):
        pana_codec.decode(ok[:-1])
    with pytest.raises(pana_codec.PanaError, match="unknown PANA message type"):
        pana_codec.decode(ok[:6] + b"\x00\x09" + ok[8:])
    with pytest.raises(pana_codec.PanaError, match="must carry 4"):
        pana_codec.decode(pana_codec.PanaMessage(2, 0, 1, 2, (pana_codec.Avp(8, b"\x01\x02"),)).encode())
