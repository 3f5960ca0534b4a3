"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from verihook.api.problems import problem
from verihook.service import Service
from verihook.service.views import HealthOut, ReadyOut

router = APIRouter(tags=["operations"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> HealthOut:
    return HealthOut(status="ok")


@router.get("/readyz", operation_id="readyz", response_model=ReadyOut)
async def readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    problems = await service.health.readiness(delivers=request.app.state.runs_dispatcher)
    if problems:
        return problem(503, "Not ready", "; ".join(problems))
    return Response(b'{"status":"ready"}', media_type="application/json")


@router.get("/metrics", operation_id="metrics")
async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    text = await service.health.metrics_text(delivers=request.app.state.runs_dispatcher)
    return Response(text, media_type="text/plain; version=0.0.4")
