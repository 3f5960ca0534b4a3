"""The latency benchmark's receiver: answers 200 {"ok":true} and records time.time() at each request's arrival.

    python bench/receiver.py --port P

A request is keyed by its `webhook-id` header (Verihook) or `x-bench-id` (the baseline); the first arrival of each
key is kept. `GET /_count` answers how many keys are held; `POST /_take` answers them all as
{"arrivals": {key: time}} and forgets them. The time is taken as the handler starts, before the body is read, on
the same clock (CLOCK_REALTIME of this machine) as the publisher's time.time().
"""

from __future__ import annotations

import argparse
import time

import orjson
import uvloop
from aiohttp import web

OK = b'{"ok":true}'


def app() -> web.Application:
    arrivals: dict[str, float] = {}

    async def hook(request: web.Request) -> web.Response:
        at = time.time()
        key = request.headers.get("webhook-id") or request.headers.get("x-bench-id")
        await request.read()
        if key is not None and key not in arrivals:
            arrivals[key] = at
        return web.Response(body=OK, content_type="application/json")

    async def count(_: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps({"count": len(arrivals)}), content_type="application/json")

    async def take(_: web.Request) -> web.Response:
        body = orjson.dumps({"arrivals": arrivals})
        arrivals.clear()
        return web.Response(body=body, content_type="application/json")

    application = web.Application(client_max_size=1024 * 1024)
    application.router.add_get("/_count", count)
    application.router.add_post("/_take", take)
    application.router.add_route("*", "/{tail:.*}", hook)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(app(), host="127.0.0.1", port=args.port, access_log=None, print=None, shutdown_timeout=2.0,
                backlog=1024, loop=uvloop.new_event_loop())


if __name__ == "__main__":
    main()
