"""zoozl: a chatbot server whose skills are plugins routed by sentence embeddings.

What plugin authors use is re-exported here: `from zoozl import Interface, Package`.
"""

from zoozl.plugin import (
    Conversation,
    Interface,
    InterfaceRoot,
    Message,
    MessagePart,
    Package,
)

__version__ = "1.0.0.dev0"

__all__ = [
    "Conversation",
    "Interface",
    "InterfaceRoot",
    "Message",
    "MessagePart",
    "Package",
    "__version__",
]
