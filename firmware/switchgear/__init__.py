"""Switchgear: breaker, trip curve, control and command sources, outage, power budget."""
