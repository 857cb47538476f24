"""Tests of the tasks package: senders, the deliver task, file fetching."""
