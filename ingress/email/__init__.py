"""The e-mail channel's inbound side: the LMTP server (lmtp.py), a mail read as the
bot's message (reading.py), and plain text out of mail bodies (text.py).

The outbound side (replies over SMTP) is tasks/email.py."""
