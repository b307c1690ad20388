"""ATM90E32AS register map and scaling (Microchip/Atmel poly-phase energy metering IC).

Facts restated from public driver sources (ESPHome `atm90e32`, CircuitSetup library) and the
datasheet's register table. Used by the real driver (drivers/atm90e32.py) and by the emulated
chip (drivers/emulated/metering/atm90e32.py), so both agree on every address.

SPI frame: 16-bit address word (bit 15 = 1 for read, bits 9..0 = address), then 16-bit data,
MSB first. Registers are 16 bits.
"""

READ_FLAG = 0x8000
ADDRESS_MASK = 0x03FF

# status and special registers
METER_EN = 0x00          # 0x0001 enables metering
SAG_PEAK_DET_CFG = 0x05
OV_TH = 0x06
ZX_CONFIG = 0x07
SAG_TH = 0x08            # voltage sag threshold
PHASE_LOSS_TH = 0x09
IN_WARN_TH = 0x0A
OI_TH = 0x0B             # over-current threshold (this model: 1 LSB = 10 mA Irms)
FREQ_LO_TH = 0x0C
FREQ_HI_TH = 0x0D
SOFT_RESET = 0x70        # write 0x789A
EMM_STATE0 = 0x71
EMM_STATE1 = 0x72
EMM_INT_STATE0 = 0x73    # write 1s to clear
EMM_INT_STATE1 = 0x74
EMM_INT_EN0 = 0x75
EMM_INT_EN1 = 0x76
LAST_SPI_DATA = 0x78     # last data word transferred on SPI (driver uses it to verify writes)
CFG_REG_ACC_EN = 0x7F    # 0x55AA unlocks configuration / calibration registers

SOFT_RESET_KEY = 0x789A
CFG_UNLOCK = 0x55AA
CFG_LOCK = 0x0000

# configuration
PL_CONST_H = 0x31
PL_CONST_L = 0x32
MMODE0 = 0x33
MMODE1 = 0x34            # PGA gain of the current channels
P_START_TH = 0x35
Q_START_TH = 0x36
S_START_TH = 0x37

# calibration (signed power gain, 1 + x / 2**15) and measurement gains
PQ_GAIN = {"A": 0x47, "B": 0x49, "C": 0x4B}
U_GAIN = {"A": 0x61, "B": 0x65, "C": 0x69}
I_GAIN = {"A": 0x62, "B": 0x66, "C": 0x6A}
U_OFFSET = {"A": 0x63, "B": 0x67, "C": 0x6B}
I_OFFSET = {"A": 0x64, "B": 0x68, "C": 0x6C}

CONFIG_RANGE = range(0x01, 0x70)   # writable only while CfgRegAccEn = 0x55AA

# MMode0 bits (datasheet register table, 33H)
MMODE0_FREQ60 = 1 << 12   # line frequency 60 Hz (west Japan) instead of 50 Hz (east)
MMODE0_3P3W = 1 << 8      # two-element metering on A and C (1φ3W / 3φ3W)
MMODE0_CF2VARH = 1 << 7   # CF2 pulses reactive energy
MMODE0_EN = {"A": 1 << 2, "B": 1 << 1, "C": 1 << 0}   # EnPA/EnPB/EnPC: phase in the all-phase sum
MMODE0_DEFAULT = 0x0087   # power-on value: 3P4W, CF2 varh, A+B+C summed
MMODE0_TWO_ELEMENT = MMODE0_3P3W | MMODE0_CF2VARH | MMODE0_EN["A"] | MMODE0_EN["C"]
"""0x0185: what the public split-phase drivers (CircuitSetup) write for two elements: B is
left out of the totals, so noise on the unwired B inputs never reaches the energy registers."""
MMODE0_ONE_ELEMENT = MMODE0_CF2VARH | MMODE0_EN["A"]   # 1φ2W: only A summed

# MMode1: PGA gain of the current channels, 2 bits per phase (A bits 1-0, B 3-2, C 5-4)
PGA_CODES = {1: 0b00, 2: 0b01, 4: 0b10}


def mmode1(pga_gain: int) -> int:
    """MMode1 for the same PGA gain on every current channel (1x 0x0000, 2x 0x0015, 4x 0x002A)."""
    code = PGA_CODES[pga_gain]
    return code | code << 2 | code << 4


def pga_of(mmode1_value: int, phase: str) -> int:
    """The PGA gain (1, 2 or 4) MMode1 sets on one phase's current channel."""
    code = (mmode1_value >> {"A": 0, "B": 2, "C": 4}[phase]) & 0b11
    return {0b00: 1, 0b01: 2, 0b10: 4}.get(code, 1)


def sag_threshold(sag_v: float, ugain: int) -> int:
    """SagTh for a sag at ``sag_v`` V RMS: the chip compares the voltage peak, scaled by the
    voltage gain, so SagTh = sag_v x 100 x sqrt(2) / (2 x Ugain / 32768) (the formula the
    public drivers use; with Ugain 0x7EAC a 70 V sag is about 5,000, not 7,000)."""
    return min(0xFFFF, int(sag_v * 100 * 2 ** 0.5 / (2 * ugain / 32768))) if ugain else 0xFFFF


def sag_volts(sag_th: int, ugain: int) -> float:
    """Inverse of ``sag_threshold``: the RMS voltage below which the sag bit sets, V."""
    return sag_th * (2 * ugain / 32768) / (100 * 2 ** 0.5)

# energy (16-bit, cleared when read; 1 LSB = 0.01 CF pulse)
AP_ENERGY_T = 0x80       # forward active, total
AN_ENERGY_T = 0x84       # reverse active, total
RP_ENERGY_T = 0x88       # forward reactive (Q > 0), total
RN_ENERGY_T = 0x8C       # reverse reactive (Q < 0), total
AP_ENERGY = {"A": 0x81, "B": 0x82, "C": 0x83}
AN_ENERGY = {"A": 0x85, "B": 0x86, "C": 0x87}
ENERGY_REGISTERS = range(0x80, 0xA0)

# power: high word + LSB word form a signed 32-bit value, 1 LSB = 0.00032 W (var)
P_MEAN_T = 0xB0
P_MEAN = {"A": 0xB1, "B": 0xB2, "C": 0xB3}
Q_MEAN_T = 0xB4
P_MEAN_T_LSB = 0xC0
P_MEAN_LSB = {"A": 0xC1, "B": 0xC2, "C": 0xC3}
Q_MEAN_T_LSB = 0xC4
POWER_LSB_W = 0.00032

# RMS: Urms 1 LSB = 0.01 V, Irms 1 LSB = 0.001 A
U_RMS = {"A": 0xD9, "B": 0xDA, "C": 0xDB}
I_RMS = {"A": 0xDD, "B": 0xDE, "C": 0xDF}
U_RMS_LSB_V = 0.01
I_RMS_LSB_A = 0.001

FREQ = 0xF8              # 1 LSB = 0.01 Hz
TEMP = 0xFC              # °C, signed

# EMMState0 / EMMIntState0 bits modelled here
STATE0_OI = {"A": 1 << 15, "B": 1 << 14, "C": 1 << 13}   # over-current per phase
STATE1_SAG = {"A": 1 << 14, "B": 1 << 13, "C": 1 << 12}  # voltage sag per phase
STATE1_PHASE_LOSS = {"A": 1 << 10, "B": 1 << 9, "C": 1 << 8}

PL_CONST_SCALE = 450_000_000_000
"""PLconst = 4.5e11 / MC, MC = meter constant in pulses (imp) per kWh (3200 -> 0x0861C468)."""


def pl_const(meter_constant_imp_per_kwh: int) -> int:
    return PL_CONST_SCALE // meter_constant_imp_per_kwh


def energy_lsb_mwh(meter_constant_imp_per_kwh: int) -> float:
    """mWh per energy-register LSB: 0.01 pulse = 0.01 / MC kWh."""
    return 10_000 / meter_constant_imp_per_kwh
