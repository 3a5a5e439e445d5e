"""Per-frame audio analysis: voice activity, talk state and prosody."""
