"""Routing evaluation: the labelled sets, their plugins, `python -m eval.routing`."""
