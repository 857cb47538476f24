"""Evaluation of zoozl: labelled sets, the rules they were scored under, commands."""
