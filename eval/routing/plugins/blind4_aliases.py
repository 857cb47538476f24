"""The twelve plugins of `eval.routing.plugins.blind4`, aliases only, no examples."""

from __future__ import annotations

from eval.routing.plugins.blind4 import make_plugins

BLIND4_ALIAS_PLUGINS = tuple(make_plugins(__name__, examples=False).values())
globals().update({cls.__name__: cls for cls in BLIND4_ALIAS_PLUGINS})
