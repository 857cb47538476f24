"""Tests of the evaluation commands (eval/), on small sets and the char embedder."""
