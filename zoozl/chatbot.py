"""The plugin API under the name zoozl 0.3.0 gave it: plugins written for 0.3.0
import `from zoozl.chatbot import Interface, InterfaceRoot, Package`, and keep working.

New plugins import from `zoozl` itself (zoozl/plugin.py holds the API).
"""

from zoozl.plugin import (
    Conversation,
    Interface,
    InterfaceRoot,
    Message,
    MessagePart,
    Package,
)

__all__ = [
    "Conversation",
    "Interface",
    "InterfaceRoot",
    "Message",
    "MessagePart",
    "Package",
]
