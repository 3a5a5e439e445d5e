"""Benchmarks: `make bench` (python -m bench) writes build/bench.json and prints a table."""
