"""Benchmarks of zoozl: websocket load, the comparison with zoozl 0.3.0, RESULTS.md."""
