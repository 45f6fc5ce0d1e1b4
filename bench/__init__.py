"""Benchmarks: `make bench` or `python -m bench.<name>`; they print figures, never fail on targets."""
