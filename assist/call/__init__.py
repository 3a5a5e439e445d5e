"""One call: the hub that starts, feeds and ends calls, and the session that runs them."""
