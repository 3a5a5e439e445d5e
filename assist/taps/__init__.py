"""Taps: where a call's audio comes from (WAV replay; the SIP tap lives in sip/)."""
