"""The answer a user sees, by which the development and sealed sets are scored."""

from __future__ import annotations

from eval.routing.bundled import EVERYDAY_MODULE, GREETING_KEYS, HELP_KEY
from zoozl.routing.router import Router

# Labels whose plugins give the user the same answer: the help text, a greeting.
SAME_ANSWER = (frozenset({HELP_KEY}), GREETING_KEYS)


def expected(label: str | None) -> str:
    """The plugin that should answer an utterance labelled label (null: help)."""
    return label if label is not None else HELP_KEY


def outcome(router: Router, text: str) -> str:
    """The plugin that answers text: the routed one, or help when none is."""
    route = router.route(text)
    return route.plugin if route is not None else HELP_KEY


def same_answer(got: str, want: str, strict: bool = False) -> bool:
    """Whether the plugin that answered gives the answer the label asks for.

    The engine answers an unrouted message with the help plugin, so for a label of
    null or Help "no route" and "routed to Help" are the same answer; Greeter and
    Hello both greet. strict keeps the two greeting plugins apart.
    """
    if got == want:
        return True
    return not strict and any({got, want} <= same for same in SAME_ANSWER)


def group(label: str | None) -> str:
    """ "everyday" (stand-ins for plugins we did not write) or "bundled+null"."""
    everyday = label is not None and label.startswith(EVERYDAY_MODULE + ":")
    return "everyday" if everyday else "bundled+null"
