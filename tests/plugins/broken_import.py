"""A plugin module that fails while being imported."""

from __future__ import annotations

raise RuntimeError("this plugin module cannot be imported")
