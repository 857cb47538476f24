"""Routing: which plugin a message goes to. The router and its request probe
(router.py), how texts are compared (normalise.py), the talk no plugin serves
(background.py), and why a message went where it did (explain.py)."""
