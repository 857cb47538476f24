"""A plugin for channel tests: describes the files it gets, sends one on request."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Message, MessagePart, Package

#: A message with this text gets a file back.
SEND_FILE = "send me a file"
FILE_OUT = MessagePart(
    binary=b"\x89PNG fake image bytes", media_type="image/png", filename="out.png"
)


class FileEcho(Interface):
    """The fallback for everything: echoes text, describes files, sends a file."""

    aliases = ("help",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        message = package.last_message
        assert message is not None
        for part in message.files:
            package.callback(
                f"got {part.filename} {part.media_type} {len(part.binary)} bytes"
            )
        if message.text == SEND_FILE:
            package.callback(Message([MessagePart("here it is"), FILE_OUT]))
        elif message.text:
            package.callback(f"echo: {message.text}")
