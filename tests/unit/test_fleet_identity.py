"""Every real-time fleet meter has its own A-route identity: system titles are unique by
construction (a 40-bit hash of the serial collides within a utility-sized fleet: with the
all-zero secret, meters 938457 and 1069173 drew the same title), keys differ per meter."""
from sumame.tools.fleet.fleet import serial_of
from sumame.tools.fleet.realtime import meter_keys

SECRET = bytes(32)


def test_system_titles_do_not_collide_where_a_hash_did():
    a, b = meter_keys(SECRET, serial_of(938457)), meter_keys(SECRET, serial_of(1069173))
    assert a["system_title"] != b["system_title"]
    assert a["ek"] != b["ek"] and a["ak"] != b["ak"]


def test_titles_are_unique_across_kinds_and_a_large_index_range():
    serials = [serial_of(i, kind) for kind in ("lv", "hv")
               for i in (*range(2000), 10**6, 10**7, 10**8 - 1, 10**8, 2**31)]
    titles = {meter_keys(SECRET, s)["system_title"] for s in serials}
    assert len(titles) == len(serials)
    assert all(len(bytes.fromhex(t)) == 8 and bytes.fromhex(t)[:3] == b"SUM" for t in titles)
