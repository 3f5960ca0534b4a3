"""The FastAPI application: routers, problem+json errors, the body size limit, and the dispatcher's life."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from verihook import __version__
from verihook.api import problems
from verihook.api.routes import catalog, endpoints, events, health, subjects, tenant_keys, tenants, validas
from verihook.runtime import Runtime
from verihook.web import create_dashboard

# /v1 and /openapi.json: not served by a worker
API_ROUTERS = (tenants, tenant_keys, endpoints, events, subjects, catalog, validas)


def create_app(runtime: Runtime, *, run_dispatcher: bool = True, serve_api: bool = True) -> FastAPI:
    """The app of one role: `serve` (both flags), `api` (no dispatcher) or `worker` (no API: it serves only
    /healthz, /readyz and /metrics; every other path answers a 404 problem)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(runtime.run_dispatcher(), name="verihook-dispatcher") if run_dispatcher else None
        try:
            yield
        finally:
            await runtime.stop_dispatcher()
            if task is not None:
                await task

    # without an OpenAPI URL FastAPI serves neither the schema nor /docs and /redoc; JSONResponse named (not left as
    # FastAPI's default) writes every body with json.dumps, as before the views were typed: pydantic's own JSON
    # writes some numbers otherwise (1e-07 as 1e-7)
    app = FastAPI(title="Verihook", version=__version__, lifespan=lifespan, default_response_class=JSONResponse,
                  openapi_url="/openapi.json" if serve_api else None)
    app.state.runtime = runtime
    app.state.service = runtime.service
    app.state.runs_dispatcher = run_dispatcher
    problems.install(app)
    problems.declare_problems(app)
    for module in (*API_ROUTERS, health) if serve_api else (health,):
        app.include_router(module.router)
    if serve_api:  # the dashboard is a face beside the API, over the same service; a worker serves neither
        app.mount("/ui", create_dashboard(runtime.service))
        app.add_api_route("/", lambda: RedirectResponse("/ui/", status_code=307), include_in_schema=False)
    app.add_middleware(problems.JsonBodies)
    app.add_middleware(problems.BodyLimit, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(problems.UrlLimit)
    return app
