"""The receiver toolkit: what a customer's webhook receiver needs, and the ``verihook listen`` server.

    from verihook.receiver import InvalidSignature, verify

    try:
        verify(secret, request.headers, raw_body)   # raises on a bad signature, or a timestamp out of tolerance
    except InvalidSignature:
        return 401

- ``verify_webhook`` does the same and answers a ``Webhook`` (id, timestamp, raw body, ``json()``);
- ``Deduplicator`` drops repeated notifications by ``webhook-id`` (every attempt of one carries the same id);
- ``ClientCredentials`` is an OAuth2 client-credentials token endpoint a receiver mounts (the Incode and
  vali-Das flows), ``basic_token_matches`` checks Attestr's static ``Basic <token>``;
- ``verihook.receiver.fastapi`` has FastAPI dependencies (``WebhookVerifier``, ``BearerRequired``,
  ``BasicTokenRequired``, ``token_endpoint``), ``verihook.receiver.wsgi`` the same for WSGI;
- ``run_listener`` / ``listen_main`` are ``verihook listen``.
"""

from __future__ import annotations

from typing import Any

from verihook.receiver.dedup import Deduplicator
from verihook.receiver.tokens import ClientCredentials, TokenAnswer, basic_token_matches
from verihook.receiver.webhook import DEFAULT_TOLERANCE_S, InvalidSignature, Webhook, verify, verify_webhook

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "ClientCredentials",
    "Deduplicator",
    "InvalidSignature",
    "TokenAnswer",
    "Webhook",
    "basic_token_matches",
    "listen_main",
    "run_listener",
    "verify",
    "verify_webhook",
]


def __getattr__(name: str) -> Any:
    """`run_listener` and `listen_main` on first use: a receiver that never listens does not load rich."""
    if name in ("listen_main", "run_listener"):
        from verihook.receiver import listen

        return getattr(listen, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
