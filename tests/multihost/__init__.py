"""Fault tests across the multi-host test bed (network namespaces)."""
