"""The firmware's core: cooperative scheduler, clock, events, persistent state."""
