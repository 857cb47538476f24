"""What each channel's two sides share: ingress/ takes its messages in, tasks/ sends
its replies out, and `zoozl.channels.<name>` holds the name, the reply address and
the notices both sides read and write.
"""

from zoozl.channels import api, email, slack, websocket

#: Every channel, as recorded in the store and labelled in the metrics.
CHANNELS = (websocket.NAME, slack.NAME, email.NAME, api.NAME)
#: Channels whose replies the web process that took the message hands out (the
#: worker tells it through the reply bus); the others go through `deliver`.
WEB_CHANNELS = (websocket.NAME, api.NAME)
NETWORK_CHANNELS = (slack.NAME, email.NAME)
