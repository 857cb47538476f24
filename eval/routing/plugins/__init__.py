"""Plugin modules of the routing sets, loaded by name (eval.routing.plugins.NAME)."""
