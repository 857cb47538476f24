"""Task names: ingress enqueues by these names only (`send_task`)."""

PROCESS = "zoozl.process"
DELIVER = "zoozl.deliver"
QUEUE = "zoozl"


def web_topic(web_id: str) -> str:
    """The reply-bus topic a web process listens on."""
    return f"zoozl:web:{web_id}"
