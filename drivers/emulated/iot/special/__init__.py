"""Special meters (特例計量器: EV chargers, PV inverters) and their IoT-route terminals (emulated)."""
