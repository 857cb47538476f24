"""The HTTP message API channel (ingress/api.py): answered by the web process that
recorded the message, through the reply bus like the websocket."""

NAME = "api"
