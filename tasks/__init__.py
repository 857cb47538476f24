"""Celery side of zoozl: app factory, process/deliver tasks, senders, reply bus."""
