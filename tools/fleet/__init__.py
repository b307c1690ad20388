"""Fleets of meters in virtual time: one process, shards, Ray, the IoT joint-reading fleet."""
