"""OBIS logical names of the meter's A-route objects, and why each was chosen.

Standard codes come from the project reference (``dlms-cosem.md`` §2.2) and the OBIS list
shipped with gurux (load profiles "recording period 1/2, instance E+1", event logs
"0.x.99.98.E", event codes "0.x.96.11.E", C = 96 D = 50..99 "manufacturer specific abstract
object"). Where no public Japanese assignment exists the choice is ours and marked so.
"""
from sumame.firmware.net.dlms import obis as std
from sumame.firmware.net.dlms.obis import obis

# --- identity and management (class 1)
CLOCK = std.CLOCK                                   # class 8, JST (deviation -540)
LOGICAL_DEVICE_NAME = std.LOGICAL_DEVICE_NAME       # "SUM" + serial, public
DEVICE_ID = std.DEVICE_ID                           # serial number, public
SUPPLY_POINT_NUMBER = std.SUPPLY_POINT_NUMBER       # 22-digit 供給地点特定番号 (our choice: device ID 2)
RECEIVING_POINT_NUMBER = std.RECEIVING_POINT_NUMBER  # 22-digit 受電地点特定番号 (our choice: device ID 3)
INVOCATION_COUNTER = std.INVOCATION_COUNTER_MGMT    # server transmit IC, public (read before ciphering)

# --- cumulative energy registers (class 3), primary Wh / varh
ACTIVE_IMPORT = std.ACTIVE_ENERGY_IMPORT            # +A 1.0.1.8.0.255
ACTIVE_EXPORT = std.ACTIVE_ENERGY_EXPORT            # -A 1.0.2.8.0.255
REACTIVE_LAG = obis("1.0.3.8.0.255")                # +R (QI+QII): the meter's lagging reactive register
# energy of the last completed interval (D = 29 "time integral 5"); inside a profile the column
# holds the energy of that profile's own capture period
ACTIVE_IMPORT_INTERVAL = obis("1.0.1.29.0.255")
ACTIVE_EXPORT_INTERVAL = obis("1.0.2.29.0.255")
REACTIVE_LAG_INTERVAL = obis("1.0.3.29.0.255")

# --- instantaneous values (class 3)
POWER_IMPORT = std.ACTIVE_POWER_IMPORT              # +P, W
POWER_EXPORT = std.ACTIVE_POWER_EXPORT              # -P, W
CURRENT_R = std.L1_CURRENT                          # element R (L1), 0.1 A, signed with power
CURRENT_T = std.L2_CURRENT                          # element T (L2)
CURRENT_MAX = std.CURRENT_ANY_PHASE                 # largest |element current|: the limiter's input
VOLTAGE_R = std.L1_VOLTAGE                          # 0.1 V
VOLTAGE_T = std.L2_VOLTAGE
VOLTAGE_R_AVG = obis("1.0.32.5.0.255")              # D = 5 "last average": mean over the last interval
VOLTAGE_T_AVG = obis("1.0.52.5.0.255")

# --- interval profiles (class 7). Two "recording period" codes exist; the 5-minute profile is a
# second instance (E = 1) of recording period 2 — our choice; its capture_period (300 s) says it.
PROFILE_30 = std.LOAD_PROFILE_1                     # 1.0.99.1.0.255, capture period 1800 s
PROFILE_15 = std.LOAD_PROFILE_2                     # 1.0.99.2.0.255, capture period 900 s
PROFILE_5 = obis("1.0.99.2.1.255")                  # capture period 300 s
PROFILE_BY_MINUTES = {30: PROFILE_30, 15: PROFILE_15, 5: PROFILE_5}

# --- event logs (class 7) and the event code objects (class 1) their rows capture
POWER_LOG = std.POWER_FAILURE_LOG                   # 1.0.99.97.0.255 power fail / restore
SECURITY_LOG = obis("0.0.99.98.1.255")              # event log #2 (our choice: security)
SWITCH_LOG = obis("0.0.99.98.2.255")                # event log #3 (our choice: disconnector)
POWER_EVENT_CODE = obis("0.0.96.11.0.255")
SECURITY_EVENT_CODE = obis("0.0.96.11.1.255")
SWITCH_EVENT_CODE = obis("0.0.96.11.2.255")
POWER_FAILURES = obis("0.0.96.7.0.255")             # number of power failures (class 1)

# --- control
DISCONNECT_CONTROL = std.DISCONNECT_CONTROL         # class 70, the breaker
LIMITER = std.LIMITER                               # class 71, the contract ampere limit
PUSH_INTERVAL = std.PUSH_SETUP_INTERVAL             # class 40, 0.0.25.9.0.255: interval data
PUSH_ALARM = obis("0.4.25.9.0.255")                 # class 40, channel 4: last gasp / restore (our choice)

# --- manufacturer-specific abstract objects (C = 96, D = 50)
SUPPLY_STATUS = obis("0.0.96.50.0.255")             # liveness: structure, see liveness.py
SOFT_SWITCH = obis("0.0.96.50.1.255")               # unsigned: 30 or 15, which interval is pushed
