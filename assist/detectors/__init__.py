"""Detectors: plain stateful objects, frames or spurts in, events out, no I/O, no clock."""
