"""An endpoint test: one event sent to an endpoint now, with its own rules and auth, answered, nothing stored.

The service hands the event it chose (a sample of the endpoint's profile) to `EndpointProbe.send`; this is the
part of delivery the service needs, given to it so that it never imports the HTTP client itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from verihook.delivery.destinations import Destinations
from verihook.delivery.recorder import internal_failure
from verihook.delivery.sender import Message, Sender, excerpt
from verihook.ids import new_id
from verihook.model import Endpoint, EndpointTest
from verihook.profiles import Profile

log = logging.getLogger("verihook.probe")


class EndpointProbe:
    def __init__(self, sender: Sender, destinations: Destinations, clock: Callable[[], float] = time.time) -> None:
        self._sender = sender
        self._destinations = destinations
        self._clock = clock

    async def profile_of(self, endpoint: Endpoint) -> Profile:
        """The profile whose body and rules the endpoint's deliveries get (its own, else its tenant's)."""
        return (await self._destinations.for_endpoint(endpoint)).rules.profile

    async def send(self, endpoint: Endpoint, event_type: str, data_json: bytes) -> EndpointTest:
        destination = await self._destinations.for_endpoint(endpoint)
        now = self._clock()
        message = Message(event_id=new_id("evt"), event_type=event_type, data_json=data_json,
                          event_created_at=now, cycle_started_at=now, subject_id=None, sequence=None)
        try:
            sent = await self._sender.send(destination, endpoint.url, message)
        except Exception as error:  # a stored secret that does not decode, a header the client refuses, a bug
            log.exception("the test of endpoint %s could not be sent", endpoint.id)
            sent = internal_failure(error)
        outcome = sent.outcome
        return EndpointTest(ok=sent.succeeded, status_code=outcome.status_code,
                            latency_ms=round(outcome.latency_ms, 3),
                            error=None if outcome.error is None else outcome.error.value,
                            error_detail=outcome.error_detail, response_body=excerpt(outcome.body))
