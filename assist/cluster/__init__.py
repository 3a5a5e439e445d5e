"""Past one process: the roles a process can take and how they find each other.

The embedded default (`role = "embedded"`) is one process with in-process
fan-out and SQLite.  In a cluster, Kamailio spreads INVITEs over `tap`
processes (pjsua2, SIP and RTP only), which hand frames to an `analysis`
process on the same machine (one speech model for all its calls); events go
through Redis Streams to any number of `gateway` processes (panels) and to a
`writer` that keeps them in PostgreSQL.
"""
