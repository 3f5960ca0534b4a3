"""A Credas process actor webhook receiver (plain WSGI): follow each invite, and flag the bounced ones.

    VERIHOOK_SIGNING_SECRET=whsec_... python examples/credas_actor_receiver.py     # listens on :9000

Updates may arrive out of order: `verihook-sequence` (per process) tells which one is the newest. The same app
runs under any WSGI server (gunicorn, uWSGI, mod_wsgi); `WebhookMiddleware` checks every signature first.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from verihook.receiver import Deduplicator, Webhook
from verihook.receiver.wsgi import WEBHOOK_KEY, WebhookMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

BOUNCED = 5


@dataclass
class Invites:
    newest: dict[int, tuple[int, dict[str, Any]]] = field(default_factory=dict)  # processActorId -> (seq, update)
    bounced: set[tuple[str, str]] = field(default_factory=set)  # (entityId, processId) whose contacts need checking
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, webhook: Webhook) -> None:
        update: dict[str, Any] = webhook.json()
        sequence = int(webhook.headers.get("verihook-sequence", "0"))
        with self.lock:
            if webhook.duplicate:
                self.duplicates += 1
                return
            known = self.newest.get(update["processActorId"])
            if known is None or known[0] < sequence:
                self.newest[update["processActorId"]] = (sequence, update)
            if BOUNCED in (update["smsStatus"], update["emailStatus"]):
                self.bounced.add((update["entityId"], update["processId"]))


def make_app(secret: str) -> tuple[WSGIApplication, Invites]:
    invites = Invites()

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/process-actors" or environ["REQUEST_METHOD"] != "POST":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        invites.take(environ[WEBHOOK_KEY])
        body = json.dumps({"received": True}).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    return WebhookMiddleware(app, secret, deduplicator=Deduplicator()), invites


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    application, _ = make_app(os.environ["VERIHOOK_SIGNING_SECRET"])
    make_server("", int(os.environ.get("PORT", "9000")), application).serve_forever()
