"""The panel server: websockets, fan-out, tokens and the pages."""
