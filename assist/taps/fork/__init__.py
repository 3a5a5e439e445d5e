"""Media forks over websockets: FreeSWITCH mod_audio_fork and jambonz `listen`,
Genesys AudioHook, Twilio Media Streams.  Each connection becomes a call on the
same CallSink as the SIP tap."""

from assist.taps.fork.params import ForkParams, ForkSource, parse_fork
from assist.taps.fork.server import ForkServer

__all__ = ["ForkParams", "ForkServer", "ForkSource", "parse_fork"]
