"""Tests of zoozl, mirroring its packages."""
