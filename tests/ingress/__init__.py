"""Tests of the ingress package: each channel endpoint against a real server."""
