"""Experiments only: candidate core changes applied to a benchmarked Verihook process at start-up, so that their
effect can be measured before anyone edits src/. Enabled by `--patch NAME` of drain.py and latency.py, which put
this folder on the child's PYTHONPATH and name the patches in VERIHOOK_BENCH_PATCHES (comma separated).

Each patch reaches into internals as they are at the time of writing; if one no longer applies, it says so and
the process stops rather than measure something else.

  flush256        dispatcher: write outcomes once 256 are buffered (flush_batch 1000 > max_in_flight 512 means
                  that today only the 20 ms timer ever flushes, and claimed-but-done deliveries hold the room)
  async_deps      API: `get_service` as an async dependency (a sync one costs a thread-pool hop per request)
  auth_cache      API: remember an API key's caller for 5 s (today each request makes two reader-thread hops)
  switch_0.5ms    sys.setswitchinterval(0.0005): a thread back from SQLite waits less for the GIL
  sync_normal     SQLite synchronous=NORMAL (WAL): no fsync per commit; loses the last commits on power loss
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def _flush256() -> None:
    import dataclasses

    from verihook import config

    original = config.DispatcherSettings.from_env.__func__  # type: ignore[attr-defined]

    def from_env(cls: Any, env: dict[str, str]) -> Any:
        return dataclasses.replace(original(cls, env), flush_batch=256)

    config.DispatcherSettings.from_env = classmethod(from_env)  # type: ignore[method-assign,assignment]


def _async_deps() -> None:
    from typing import Annotated

    from fastapi import Depends, Request

    from verihook.api import deps
    from verihook.service import Service

    if "verihook.api.routes.events" in sys.modules:
        raise RuntimeError("async_deps must run before the routes are imported")

    async def get_service(request: Request) -> Service:
        service: Service = request.app.state.service
        return service

    get_service.__annotations__ = {"request": Request, "return": Service}  # real types: FastAPI reads them

    deps.ServiceDep = Annotated[Service, Depends(get_service)]  # type: ignore[misc]


def _auth_cache() -> None:
    from verihook.service import Service

    original = Service.authenticate
    cache: dict[str | None, tuple[float, Any]] = {}

    async def authenticate(self: Service, api_key: str | None) -> Any:
        hit = cache.get(api_key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < 5.0:
            return hit[1]
        caller = await original(self, api_key)
        cache[api_key] = (now, caller)
        return caller

    Service.authenticate = authenticate  # type: ignore[method-assign]


def _switch() -> None:
    sys.setswitchinterval(0.0005)


def _sync_normal() -> None:
    from verihook.store import sqlite

    original = sqlite._Connection._conn

    def conn(self: Any) -> Any:
        made = original(self)
        if not getattr(self._local, "bench_normal", False):
            made.execute("PRAGMA synchronous = NORMAL")
            self._local.bench_normal = True
        return made

    sqlite._Connection._conn = conn  # type: ignore[method-assign]


PATCHES = {"flush256": _flush256, "async_deps": _async_deps, "auth_cache": _auth_cache, "switch_0.5ms": _switch,
           "sync_normal": _sync_normal}

for _name in filter(None, os.environ.get("VERIHOOK_BENCH_PATCHES", "").split(",")):
    try:
        PATCHES[_name]()
    except Exception as _error:  # a patch that no longer applies must not be measured as if it did
        print(f"bench patch {_name!r} failed: {_error!r}", file=sys.stderr)
        raise SystemExit(3) from _error
    print(f"bench patch {_name!r} applied", file=sys.stderr)
