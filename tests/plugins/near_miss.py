"""A weather plugin with examples and near misses: talk about the weather that
no plugin should take."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Weather(Interface):
    """Tells the forecast; knows that musing about the weather asks for nothing."""

    aliases = ("weather", "forecast")
    examples = (
        "will it rain tomorrow",
        "whats the weather like in riga",
        "do i need an umbrella today",
    )
    near_misses = (
        "why is the sky blue",
        "i love the smell of rain",
        "who invented the barometer",
    )

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Sunny.")
