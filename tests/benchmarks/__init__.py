"""Tests of the benchmark tooling (formatting only, nothing timed)."""
