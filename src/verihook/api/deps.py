"""Annotated dependencies: the service, and the caller already authenticated."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

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
