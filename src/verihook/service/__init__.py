"""Use cases shared by the API, the dashboard and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from verihook.delivery.sender import Message, Sender, excerpt
from verihook.delivery.targets import Targets
from verihook.ids import new_id
from verihook.model import AttemptError
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
from verihook.service.tenants import NewTenant, Tenants
from verihook.service.validas import ValidasWebhook

__all__ = ["ADMIN", "Caller", "Context", "EndpointTest", "EndpointView", "EventDetail", "EventInput", "NewTenant",
           "Service", "SubjectDetail", "SubjectInput"]

@dataclass(slots=True)
class EndpointTest:
    ok: bool
    status_code: int | None
    latency_ms: float
    error: str | None
    error_detail: str | None
    response_body: str | None


class Service:
    def __init__(self, ctx: Context, sender: Sender, targets: Targets, health: Health) -> None:
        self.ctx = ctx
        self.health = health
        self.tenants = Tenants(ctx)
        self.endpoints = Endpoints(ctx)
        self.events = Events(ctx)
        self.subjects = Subjects(ctx, self.events)
        self.portal = Portal(ctx)
        self.stats = Stats(ctx)
        self.requests = Requests(ctx)
        self.validas = ValidasWebhook(ctx, self.endpoints, self.events, self.subjects, self.test_endpoint)
        self._sender = sender
        self._targets = targets

    async def authenticate(self, api_key: str | None) -> Caller:
        return await self.ctx.caller(api_key)

    async def test_endpoint(self, caller: Caller, endpoint_id: str) -> EndpointTest:
        """Send a test event to the endpoint now, with its own rules and auth; nothing is stored. Where the endpoint
        takes events of a seed profile, the test is a sample of one of them, exactly as such an event is sent."""
        endpoint, tenant = await self.endpoints.load(caller, endpoint_id)
        target = await self._targets.for_endpoint(endpoint)
        now = self.ctx.clock()
        event_type, data = sample_event(self.ctx.registry, endpoint, target.rules.profile, tenant)
        try:
            sent = await self._sender.send(target, endpoint.url, Message(
                event_id=new_id("evt"), event_type=event_type, data_json=orjson.dumps(data),
                event_created_at=now, cycle_started_at=now, subject_id=None, sequence=None))
        except ValueError as error:  # a signing secret stored before secrets were checked: say so, never 500
            return EndpointTest(ok=False, status_code=None, latency_ms=0.0, error=AttemptError.OTHER.value,
                                error_detail=f"the request could not be made: {error}", response_body=None)
        outcome = sent.outcome
        return EndpointTest(ok=sent.succeeded, status_code=outcome.status_code,
                            latency_ms=round(outcome.latency_ms, 3),
                            error=None if outcome.error is None else outcome.error.value,
                            error_detail=outcome.error_detail, response_body=excerpt(outcome.body))
