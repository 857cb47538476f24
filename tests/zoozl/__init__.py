"""Tests of the zoozl library."""
