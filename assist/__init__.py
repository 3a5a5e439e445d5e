"""Real-time agent assist for telephone call centres."""

__version__ = "0.1.0"
