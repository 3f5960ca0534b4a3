"""Endpoints: CRUD, secrets and rotation, test, recovery of failed deliveries."""

from __future__ import annotations

from fastapi import APIRouter, Body, Query, Response

from verihook.api.deps import CallerDep, ServiceDep, V1Route
from verihook.api.schemas import EndpointCreate, EndpointUpdate, Recover, SecretRotate
from verihook.service.views import EndpointOut, EndpointPage, EndpointSecretsOut, EndpointTestOut, RecoveredOut
from verihook.times import parse_time

router = APIRouter(prefix="/v1/endpoints", tags=["endpoints"], route_class=V1Route)


@router.post("", status_code=201, operation_id="v1.endpoint.create")
async def create_endpoint(body: EndpointCreate, caller: CallerDep, service: ServiceDep) -> EndpointOut:
    """The answer that made the endpoint shows its signing secret and credentials; later ones show ***."""
    view = await service.endpoints.create(caller, body.model_dump(exclude_unset=True, exclude_none=False))
    return EndpointOut.of(view, reveal=True)


@router.get("", operation_id="v1.endpoint.list")
async def list_endpoints(caller: CallerDep, service: ServiceDep, limit: int = Query(50, ge=1, le=500),
                         cursor: str | None = None) -> EndpointPage:
    return EndpointPage.of(await service.endpoints.list(caller, limit, cursor), EndpointOut.of)


@router.get("/{endpoint_id}", operation_id="v1.endpoint.get")
async def get_endpoint(endpoint_id: str, caller: CallerDep, service: ServiceDep) -> EndpointOut:
    return EndpointOut.of(await service.endpoints.get(caller, endpoint_id))


@router.patch("/{endpoint_id}", operation_id="v1.endpoint.update")
async def update_endpoint(endpoint_id: str, body: EndpointUpdate, caller: CallerDep, service: ServiceDep
                          ) -> EndpointOut:
    return EndpointOut.of(await service.endpoints.update(caller, endpoint_id, body.model_dump(exclude_unset=True)))


@router.delete("/{endpoint_id}", status_code=204, operation_id="v1.endpoint.delete")
async def delete_endpoint(endpoint_id: str, caller: CallerDep, service: ServiceDep) -> Response:
    await service.endpoints.delete(caller, endpoint_id)
    return Response(status_code=204)


@router.get("/{endpoint_id}/secrets", operation_id="v1.endpoint.secrets")
async def endpoint_secrets(endpoint_id: str, caller: CallerDep, service: ServiceDep) -> EndpointSecretsOut:
    return EndpointSecretsOut.of(await service.endpoints.get(caller, endpoint_id))


@router.post("/{endpoint_id}/secret/rotate", operation_id="v1.endpoint.rotate_secret")
async def rotate_secret(endpoint_id: str, caller: CallerDep, service: ServiceDep,
                        body: SecretRotate | None = Body(default=None)) -> EndpointSecretsOut:
    body = body or SecretRotate()
    return EndpointSecretsOut.of(await service.endpoints.rotate_secret(caller, endpoint_id, body.secret, body.grace_s))


@router.post("/{endpoint_id}/test", operation_id="v1.endpoint.test")
async def test_endpoint(endpoint_id: str, caller: CallerDep, service: ServiceDep) -> EndpointTestOut:
    return EndpointTestOut.of(await service.test_endpoint(caller, endpoint_id))


@router.post("/{endpoint_id}/recover", operation_id="v1.endpoint.recover")
async def recover(endpoint_id: str, body: Recover, caller: CallerDep, service: ServiceDep) -> RecoveredOut:
    since = parse_time(body.since, "since")
    until = parse_time(body.until, "until") if body.until is not None else None
    return RecoveredOut(requeued=await service.endpoints.recover(caller, endpoint_id, since, until,
                                                                 body.include_skipped))
