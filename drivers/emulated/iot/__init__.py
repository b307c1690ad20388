"""Emulated IoT-route world: the Enhanced HAN coordinator module of the meter, terminal radios
(end, relay, sleep devices) on the virtual 920 MHz air, and gas/water meter terminals."""
