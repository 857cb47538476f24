"""Plugins for everyday intents, used to check routing among many skills."""

from __future__ import annotations

from zoozl.plugin import Interface, InterfaceRoot, Package


class Weather(Interface):
    """Answers questions about the weather."""

    aliases = ("what is the weather", "weather forecast")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("It is sunny and 21 degrees.")


class Time(Interface):
    """Tells the time."""

    aliases = ("what time is it",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("It is 12:00.")


class Joke(Interface):
    """Tells a joke."""

    aliases = ("tell me a joke",)

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("I would tell you a UDP joke, but you might not get it.")


class Reminder(Interface):
    """Sets reminders."""

    aliases = ("remind me", "set a reminder")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("OK, I will remind you.")


class Translate(Interface):
    """Translates text."""

    aliases = ("translate", "translate text")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Translated.")


class Calculator(Interface):
    """Does arithmetic."""

    aliases = ("calculate", "do math")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("The answer is 42.")


class Timer(Interface):
    """Starts countdown timers."""

    aliases = ("start a timer", "set a timer")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Timer started.")


class News(Interface):
    """Reads the headlines."""

    aliases = ("latest news", "news headlines")

    def consume(self, context: InterfaceRoot, package: Package) -> None:
        package.callback("Nothing new today.")


EVERYDAY_PLUGINS: tuple[type[Interface], ...] = (
    Weather,
    Time,
    Joke,
    Reminder,
    Translate,
    Calculator,
    Timer,
    News,
)
