"""Annotated dependencies: the service, and the caller already authenticated; the route class of /v1, which refuses
query parameters a route does not declare."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from verihook import limits
from verihook.errors import InvalidInput
from verihook.service import Caller, Service


async def get_service(request: Request) -> Service:  # async: a plain def would cost a thread-pool hop
    service: Service = request.app.state.service
    return service


async def get_caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    service: Service = request.app.state.service
    return await service.authenticate(key.strip() if scheme.lower() == "bearer" else None)


ServiceDep = Annotated[Service, Depends(get_service)]
CallerDep = Annotated[Caller, Depends(get_caller)]


BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


class V1Route(APIRoute):
    """A route that answers 422 to a query parameter it does not declare (itself or through its dependencies),
    naming it and listing the ones it accepts, instead of ignoring a misspelt filter; and that reads its JSON body
    by verihook.limits (standard JSON only: a clear 422 for what the standard library would take or fail on)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        accepted = query_names(self.dependant)

        async def checked(request: Request) -> Response:
            if request.scope["query_string"]:
                await refuse_unknown_query(request, accepted)
            if request.method in BODY_METHODS and (raw := await request.body()):
                request._json = limits.parse_body(raw)  # FastAPI reads the body through Request.json(), which keeps it
            return await handler(request)

        return checked


def query_names(dependant: Dependant) -> frozenset[str]:
    names = {field.alias for field in dependant.query_params}
    for dependency in dependant.dependencies:
        names |= query_names(dependency)
    return frozenset(names)


async def refuse_unknown_query(request: Request, accepted: frozenset[str]) -> None:
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in accepted]
    if not unknown:
        return
    await get_caller(request)  # 401 before 422, as for a bad body
    named = ", ".join(repr(name) for name in unknown)
    takes = f"this route accepts {', '.join(sorted(accepted))}" if accepted else "this route takes none"
    plural = "s" if len(unknown) > 1 else ""
    raise InvalidInput(f"unknown query parameter{plural} {named}; {takes}", field=unknown[0])
