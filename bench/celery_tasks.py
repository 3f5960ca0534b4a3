"""What a Python team would run instead of Verihook: a Celery task per delivery on the Redis broker, sending with
`requests`, retried by Celery's autoretry. Used by bench/celery_baseline.py; the worker imports this module.

The task is what such a team writes: sign the body (Standard Webhooks HMAC, as Verihook does), POST it with a
pooled `requests.Session` and the delivery's timeout, raise on a non-2xx answer so autoretry schedules the next
try, and count the success (a Redis INCR the driver watches, standing in for the attempt record Verihook writes).
Late acknowledgement, so a worker killed mid-request does not lose its delivery (Verihook's promise too).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time

import redis
import requests
from celery import Celery

BROKER_URL = os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
DONE_KEY = "bench:celery:done"
QUEUE = "bench-deliveries"
SECRET = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

app = Celery("bench_celery", broker=BROKER_URL)
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=4,
                task_default_queue=QUEUE, task_ignore_result=True, broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False)

_session: requests.Session | None = None
_counter: redis.Redis | None = None


def session() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=64)
        _session.mount("http://", adapter)
    return _session


def counter() -> redis.Redis:
    global _counter
    if _counter is None:
        _counter = redis.Redis.from_url(BROKER_URL)
    return _counter


def signed_headers(message_id: str, body: bytes) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = hmac.new(SECRET, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"content-type": "application/json", "webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": "v1," + base64.b64encode(signature).decode()}


@app.task(bind=True, autoretry_for=(requests.RequestException,), retry_backoff=True, retry_backoff_max=600,
          retry_jitter=True, max_retries=8)
def deliver(self: object, url: str, message_id: str, body: str) -> None:
    payload = body.encode()
    response = session().post(url, data=payload, headers=signed_headers(message_id, payload), timeout=15,
                              allow_redirects=False)
    response.raise_for_status()
    counter().incr(DONE_KEY)
