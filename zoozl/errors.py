"""Named exceptions of the zoozl library."""

from __future__ import annotations


class ZoozlError(Exception):
    """Base of every error zoozl raises on purpose."""


class ConfigError(ZoozlError):
    """The configuration cannot start zoozl; the message names the key or plugin."""


class PluginError(ZoozlError):
    """A plugin broke its contract (bad reply type, raised, ran too long)."""


class PluginTimeout(PluginError):
    """A plugin ran past its time limit and was stopped."""


class MessageRejected(ZoozlError):
    """An incoming message is not acceptable (not a string, too long, ...)."""


class LeaseLost(ZoozlError):
    """The worker no longer holds the conversation lease; its work must not commit."""


class DuplicateMessage(ZoozlError):
    """The channel's external id was recorded before: the message is a retry."""


class ModelExportError(ZoozlError):
    """The one-time ONNX export of the model failed; the message says why."""
