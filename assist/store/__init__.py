"""The store: calls and their events kept for review."""
