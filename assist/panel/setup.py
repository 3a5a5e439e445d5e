"""The panel server as a config describes it: secret, TLS, review routes, origins.

The embedded service and the gateway role build it the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assist.errors import UserError
from assist.panel.auth import load_or_create_secret
from assist.panel.review import ReviewRoutes
from assist.panel.server import AssistServer, FeedbackCallback, ssl_context
from assist.store import open_archive

if TYPE_CHECKING:
    from assist.config import Config


def panel_secret(cfg: Config) -> bytes:
    """The token signing secret (created on first use); UserError when unreadable."""
    try:
        return load_or_create_secret(cfg.secret_path)
    except (OSError, ValueError) as e:
        raise UserError(f"panel secret: {e}") from None


def panel_server(cfg: Config, secret: bytes, on_feedback: FeedbackCallback, *,
                 host: str | None = None, port: int | None = None) -> AssistServer:
    ssl = None
    if cfg.server.tls_cert:
        try:
            ssl = ssl_context(cfg.server.tls_cert, cfg.server.tls_key)
        except (OSError, ValueError) as e:
            raise UserError(f"server.tls_cert: cannot load the certificate ({e})") from None
    return AssistServer(host or cfg.server.host, cfg.server.port if port is None else port,
                        secret=secret, on_feedback=on_feedback,
                        routes=ReviewRoutes(open_archive(cfg, check=False), secret),
                        origins=cfg.server.origins, ssl_context=ssl)
