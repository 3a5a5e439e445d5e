"""The coach: playbooks, and the suggestions they raise on a call's events."""
