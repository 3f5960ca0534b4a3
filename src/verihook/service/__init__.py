"""Use cases shared by the API, the dashboard and the CLI."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol

import orjson

from verihook.model import Endpoint, EndpointTest
from verihook.profiles import Profile
from verihook.service.access import ADMIN, Caller
from verihook.service.context import Context
from verihook.service.endpoints import Endpoints, EndpointView
from verihook.service.events import EventDetail, EventInput, Events
from verihook.service.health import Health
from verihook.service.portal import Portal
from verihook.service.requests import Requests
from verihook.service.samples import sample_event
from verihook.service.stats import Stats
from verihook.service.subjects import SubjectDetail, SubjectInput, Subjects
from verihook.service.tenant_keys import NewApiKey, TenantKeys
from verihook.service.tenants import NewTenant, Tenants
from verihook.service.validas import ValidasWebhook

__all__ = ["ADMIN", "Caller", "Context", "EndpointTest", "EndpointView", "EventDetail", "EventInput", "NewApiKey",
           "NewTenant", "Service", "SubjectDetail", "SubjectInput"]

class Probe(Protocol):
    """What the service needs of delivery to test an endpoint (delivery/probe.py implements it)."""

    def profile_of(self, endpoint: Endpoint) -> Awaitable[Profile]: ...
    def send(self, endpoint: Endpoint, event_type: str, data_json: bytes) -> Awaitable[EndpointTest]: ...


class Service:
    def __init__(self, ctx: Context, probe: Probe, health: Health) -> None:
        self.ctx = ctx
        self.health = health
        self.tenants = Tenants(ctx)
        self.keys = TenantKeys(ctx)
        self.endpoints = Endpoints(ctx)
        self.events = Events(ctx)
        self.subjects = Subjects(ctx, self.events)
        self.portal = Portal(ctx)
        self.stats = Stats(ctx)
        self.requests = Requests(ctx)
        self.validas = ValidasWebhook(ctx, self.endpoints, self.events, self.subjects, self.test_endpoint)
        self._probe = probe

    async def authenticate(self, api_key: str | None) -> Caller:
        return await self.ctx.caller(api_key)

    async def test_endpoint(self, caller: Caller, endpoint_id: str) -> EndpointTest:
        """Send a test event to the endpoint now, with its own rules and auth; nothing is stored. Where the endpoint
        takes events of a seed profile, the test is a sample of one of them, exactly as such an event is sent."""
        endpoint, tenant = await self.endpoints.load(caller, endpoint_id)
        event_type, data = sample_event(self.ctx.registry, endpoint, await self._probe.profile_of(endpoint), tenant)
        return await self._probe.send(endpoint, event_type, orjson.dumps(data))
