"""Plugins bundled with zoozl: greeter, helpers, bulls & cows, pong and cancel."""
