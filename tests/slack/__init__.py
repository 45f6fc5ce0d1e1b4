"""Slack end to end: the real Bolt app on loopback HTTP, signed requests in, a fake Web API out."""
