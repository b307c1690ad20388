"""A pcap writer for the virtual air: linktype 195 (IEEE 802.15.4 with FCS), one record per frame.

tshark / Wireshark dissect the file as wpan -> 6lowpan -> ipv6 -> udp -> pana -> eap.
Timestamps are the emulation clock (epoch s), so virtual-time captures read naturally.
Every 802.15.4 link key the emulated stacks install (after PANA, or set by hand) is appended to
``<path>.keys`` in Wireshark's ``ieee802154_keys`` UAT format (``"KEY","INDEX","No hash"``, one a
line), so the secured data frames of a capture can be decrypted: the keys never leave the
emulated dongles otherwise (as on real ones).
"""
from __future__ import annotations

import struct

LINKTYPE_IEEE802_15_4_WITHFCS = 195


class PcapWriter:
    """Append frames to ``path`` (truncated on open). ``write(t, psdu)`` with t in epoch s."""

    def __init__(self, path: str, linktype: int = LINKTYPE_IEEE802_15_4_WITHFCS):
        self.path = path
        self._fh = open(path, "wb")
        self._fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        self._fh.flush()
        self.frames = 0
        self.keys_path = f"{path}.keys"
        self._keys_seen: set[tuple[bytes, int]] = set()
        with open(self.keys_path, "w") as fh:
            fh.write("# ieee802154_keys for %s: tshark -o 'uat:ieee802154_keys:LINE' per line, or copy this\n"
                     "# file into the Wireshark profile directory as ieee802154_keys\n" % path)

    def log_key(self, key: bytes, index: int) -> None:
        """Append one link key (16 octets, key index) to the key log, once per (key, index)."""
        if (key, index) in self._keys_seen:
            return
        self._keys_seen.add((key, index))
        with open(self.keys_path, "a") as fh:
            fh.write(f'"{key.hex()}","{index}","No hash"\n')

    def write(self, t: float, psdu: bytes) -> None:
        sec = int(t)
        usec = int(round((t - sec) * 1e6))
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._fh.write(struct.pack("<IIII", sec, usec, len(psdu), len(psdu)) + psdu)
        self._fh.flush()
        self.frames += 1

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
