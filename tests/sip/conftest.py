"""One pjsua2 endpoint for the whole SIP test session (it can exist once per process),
driven by real sipp processes playing SBCs and PBXs."""

from __future__ import annotations

import asyncio
import logging
import shutil
import threading

import pytest

from tests.sip.sipkit import RTP_BLOCK, TRUNKS, RecordingSink, Tap, free_port, rtp_block


@pytest.fixture(scope="session")
def tap():
    if shutil.which("sipp") is None:
        pytest.skip("sipp (Debian sip-tester) is not installed")
    from sip.server import SipServer
    from sip.settings import SipSettings
    from sip.trunks import parse_trunks

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="loop", daemon=True)
    thread.start()
    sink = RecordingSink(loop)
    port = free_port()
    rtp_port = rtp_block()
    settings = SipSettings(host="0.0.0.0", udp_port=port, tcp_port=port, rtp_port=rtp_port,
                           rtp_port_range=RTP_BLOCK, answer_delay=0.2)  # fmt: skip
    server = SipServer(parse_trunks(TRUNKS, "tests"), loop, sink, settings)
    server.start()
    yield Tap(server, sink, port, rtp_port, loop)
    server.stop()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    assert not sink.errors, sink.errors


@pytest.fixture(autouse=True)
def _quiet_pjsip_logs(caplog):
    caplog.set_level(logging.INFO, logger="assist.sip")
