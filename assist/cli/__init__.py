"""The command line: `python -m assist COMMAND`."""
