"""The conversation engine: plugins loaded (loader.py), a message routed and its plugin
run (engine.py), and turns taken in order under a lease and committed (turns.py)."""
