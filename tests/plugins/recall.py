"""A plugin that reads back the conversation: how many messages, and their texts.

Typing `done` completes the conversation, so the next message starts afresh.
"""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Recall(Interface):
    """Replies `<count>: <text> | <text> ...` for the messages of the conversation."""

    aliases = ("help",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        messages = package.conversation.messages
        texts = " | ".join(
            m.text or ",".join(f.filename for f in m.files) for m in messages
        )
        package.callback(f"{len(messages)}: {texts}")
        package.complete = package.last_message_text == "done"
