"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from verihook.api.problems import problem

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz")
async def readyz(request: Request) -> Response:
    runtime = request.app.state.runtime
    try:
        await runtime.store.ping()
    except Exception as error:
        return problem(503, "Not ready", f"the store is unreachable: {error}")
    if request.app.state.runs_dispatcher and not runtime.dispatcher.running:
        return problem(503, "Not ready", "the dispatcher is not running")
    return Response(b'{"status":"ready"}', media_type="application/json")


@router.get("/metrics", operation_id="metrics")
async def metrics(request: Request) -> Response:
    runtime = request.app.state.runtime
    stats = await runtime.store.queue_stats()
    clock = runtime.service.ctx.clock
    oldest = 0.0 if stats.oldest_pending_created_at is None else max(0.0, clock() - stats.oldest_pending_created_at)
    text = runtime.metrics.render(stats.pending, oldest)
    return Response(text, media_type="text/plain; version=0.0.4")
