"""Routing: which plugin a message goes to. The router and its request probe
(router.py), its classifier (classifier.py) and their fits kept for the next
start (fitted.py), how texts are compared (normalise.py), the talk no plugin
serves (background.py), and why a message went where it did (explain.py)."""
