"""How long an emulated SKSTACK dongle takes, and where each figure comes from (one place).

``REAL`` is what ``sumame emulate`` uses by default (air mode "accurate"): the host sees a real
dongle's pacing — UART bytes at 115 200 bit/s, EVENT 21 only after CSMA, the frame's airtime
and the MAC ACK, the meter's answer after its own dongle's processing, SKSCAN for as long as
its DURATION implies per channel, SKJOIN for the seconds a PANA exchange takes. ``FAST``
(air mode "fast", tests and benches) is unthrottled: every delay 0.

Sources (tags of ../shared/reference/skstack-ip.md; "model" = our calibration, not measured):

* UART 115 200 bit/s 8N1 = 10 bit per octet (§2: every client opens 115 200; S1 §4.36).
* Active/ED scan dwell per channel = 9.6 ms x (2^D + 1) (S3 momonga ``skscan`` comment; S7
  smdn ``ToSKSCANDuration``), plus 8 ms per channel to retune — calibrated (model) so that a
  28-channel D=6 scan takes 17.7 s, the real BP35C2 timing of S14a (OK at 0 s, EVENT 22 at
  17.7 s); the beacon on 0x33 then appears at 11.4 s as in S14a. D is 0-14 (S1 §4.12; S7).
* MAC: IEEE 802.15.4 unslotted CSMA-CA with macMinBE 3 (mean 3.5 backoff periods) and a
  SUN-FSK backoff period of 1.3 ms (aUnitBackoffPeriod = aTurnaroundTime + aCcaTime at
  100 kbit/s), ACK after aTurnaroundTime 1 ms, ACK frame 5 octets + PHY overhead, no ACK ->
  macMaxFrameRetries 3 retries, each waiting macAckWaitDuration (model: 5 ms) -> EVENT 21 01.
* Module processing (model): 2 ms from a command line's CR LF to its answer; 3 ms from a
  received frame's end to its ERXUDP (AES-CCM* + 6LoWPAN on the module's MCU).
* PANA (model): 0.3 s of processing per PANA message on each end (EAP-PSK AES/CMAC on a small
  MCU, PANA state machine), so a 9-message join takes about 3 s — "a few seconds when it
  works" (inference from S11 #5 timestamps: scan 8 s, scan + join + first send within ~14 s).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DongleTiming:
    name: str
    uart_bit_s: float            # seconds per bit on the host UART (0 = instant)
    command_s: float             # CR LF of a command line -> its answer
    rx_processing_s: float       # end of a received frame -> its ERXUDP line starts
    csma_s: float                # mean CSMA-CA backoff before a transmission
    ack_turnaround_s: float      # frame end -> ACK start
    ack_wait_s: float            # how long the sender waits for an ACK before a retry
    mac_retries: int             # macMaxFrameRetries
    pana_processing_s: float     # per PANA message, at the sending end
    scan_base_s: float           # per-channel dwell unit: dwell = base x (2^D + 1) + retune
    scan_retune_s: float

    def uart_s(self, octets: int) -> float:
        """Seconds ``octets`` take on the UART (8N1: 10 bits each)."""
        return octets * 10 * self.uart_bit_s

    def scan_dwell_s(self, duration: int) -> float:
        """Per-channel SKSCAN time for DURATION ``duration`` (0-14)."""
        return self.scan_base_s * (2 ** duration + 1) + self.scan_retune_s

    def ack_s(self, airtime) -> float:
        """ACK turnaround + ACK airtime (``airtime(psdu_len)`` of the air; ACK PSDU 5 octets)."""
        return self.ack_turnaround_s + airtime(5) if self.ack_turnaround_s else 0.0

    def no_ack_s(self, frame_airtime_s: float) -> float:
        """Time from the first attempt to EVENT 21 01 when no ACK ever comes."""
        return (self.mac_retries + 1) * (self.csma_s + frame_airtime_s + self.ack_wait_s)

    @property
    def realistic(self) -> bool:
        return self.uart_bit_s > 0


REAL = DongleTiming("real", uart_bit_s=1 / 115_200, command_s=0.002, rx_processing_s=0.003,
                    csma_s=3.5 * 0.0013, ack_turnaround_s=0.001, ack_wait_s=0.005, mac_retries=3,
                    pana_processing_s=0.3, scan_base_s=0.0096, scan_retune_s=0.008)
FAST = DongleTiming("fast", uart_bit_s=0.0, command_s=0.0, rx_processing_s=0.0, csma_s=0.0,
                    ack_turnaround_s=0.0, ack_wait_s=0.0, mac_retries=3, pana_processing_s=0.0,
                    scan_base_s=0.0, scan_retune_s=0.0)

# Published figures for real dongles that `make bench` prints next to the REAL model's.
PUBLISHED = {
    "scan-28ch-d6-s": (17.7, "real BP35C2 (EVER 1.5.2) SKSCAN 2 0FFFFFFF 6 0: EVENT 22 at 17.7 s [S14a]"),
    "scan-28ch-d6-manual-s": (18.2, "BP35A1 manual formula 0.01 s x (2^6+1) x 28 [S1 §4.12]"),
    "join-s": (None, "'a few seconds when it works' (inference, S11 #5); momonga budgets 38-40 s "
                     "for a failing attempt [S3]"),
    "e7-round-trip-s": (None, "no published timed transcript; field logs say 'seconds' on weak "
                              "links (field-quirks §1 item 10)"),
}


def for_air(accurate: bool) -> DongleTiming:
    return REAL if accurate else FAST
