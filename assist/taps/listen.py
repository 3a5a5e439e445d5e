"""Start the listeners that take calls (SIP tap, media forks) in front of any CallSink:
the embedded service's hub, or a tap process's hop to its analysis process."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assist.errors import UserError
from assist.frames import CallSink
from assist.panel.server import ssl_context

if TYPE_CHECKING:
    from assist.config import Config

log = logging.getLogger(__name__)


async def start_fork(cfg: Config, sink: CallSink) -> Any:
    """The media-fork listener, feeding `sink`; UserError when it cannot listen."""
    from assist.taps.fork import ForkServer

    fp = cfg.fork
    ssl = None
    if fp.tls_cert:
        try:
            ssl = ssl_context(fp.tls_cert, fp.tls_key)
        except (OSError, ValueError) as e:
            raise UserError(f"fork.tls_cert: cannot load the certificate ({e})") from None
    fork = ForkServer(fp, sink, ssl_context=ssl)
    try:
        await fork.start()
    except OSError as e:
        raise UserError(f"media-fork listener: cannot listen on {fp.host}:{fp.port} ({e}); "
                        "choose another fork.port") from None
    log.info("media-fork listener on %s:%d for %d source(s)", fp.host, fork.port,
             len(fp.sources))
    return fork


async def start_sip(cfg: Config, sink: CallSink, secret: bytes,
                    unready: Callable[[], str | None] | None = None) -> Any:
    """The SIP tap, feeding `sink`; UserError when it cannot start."""
    from sip.server import SipServer

    sp = cfg.sip
    proxies = cfg.cluster.proxies
    # Taps behind one proxy share the digest nonce key (derived from the panel secret
    # they share), so a retried INVITE may land on any of them.
    key = hmac.new(secret, b"sip digest nonce", "sha256").digest() if proxies else None
    sip = SipServer(cfg.trunks, asyncio.get_running_loop(), sink, sp, proxies=proxies,
                    nonce_key=key, unready=unready)
    try:
        await asyncio.to_thread(sip.start)
    except RuntimeError as e:
        raise UserError(f"SIP tap: {e}; check [sip] host and ports") from None
    log.info("SIP tap listening on %s (udp %s, tcp %s) for %d trunk(s)", sp.host,
             sp.udp_port or "off", sp.tcp_port or "off", len(cfg.trunks))
    return sip
