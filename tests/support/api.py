"""A small client for Verihook's HTTP API, as any program would drive it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import aiohttp


@dataclass(slots=True)
class Reply:
    status: int
    body: Any
    content_type: str

    def ok(self) -> Any:
        assert 200 <= self.status < 300, f"{self.status}: {self.body}"
        return self.body


class Api:
    def __init__(self, base_url: str, key: str | None, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.key = key
        self.session = session

    def as_key(self, key: str | None) -> Api:
        return Api(self.base_url, key, self.session)

    async def call(self, method: str, path: str, json: Any = None, *, data: bytes | None = None,
                   params: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Reply:
        sent_headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        sent_headers.update(headers or {})
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        async with self.session.request(method, self.base_url + path, json=json, data=data, params=clean,
                                        headers=sent_headers) as response:
            text = await response.text()
            content_type = response.headers.get("content-type", "")
            body = await response.json(content_type=None) if text and "json" in content_type else text
            return Reply(response.status, body, content_type)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("POST", path, json, **kw)

    async def get(self, path: str, **kw: Any) -> Reply:
        return await self.call("GET", path, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Reply:
        return await self.call("PATCH", path, json, **kw)

    async def delete(self, path: str, **kw: Any) -> Reply:
        return await self.call("DELETE", path, **kw)

    async def tenant(self, name: str = "acme", **fields: Any) -> dict[str, Any]:
        return (await self.post("/v1/tenants", {"name": name, **fields})).ok()

    async def as_new_tenant(self, name: str = "acme") -> Api:
        """A client acting with the API key of a tenant made now with this client's key."""
        return self.as_key((await self.tenant(name))["api_key"])

    async def endpoint(self, url: str, **fields: Any) -> dict[str, Any]:
        return (await self.post("/v1/endpoints", {"url": url, **fields})).ok()

    async def publish(self, type: str = "order.created", data: dict[str, Any] | None = None, **fields: Any
                      ) -> dict[str, Any]:
        return (await self.post("/v1/events", {"type": type, "data": data or {}, **fields})).ok()

    async def wait_event(self, event_id: str, status: str = "succeeded", timeout: float = 10.0) -> dict[str, Any]:
        """Poll the event until its delivery status is `status`."""
        deadline = time.monotonic() + timeout
        while True:
            event = (await self.get(f"/v1/events/{event_id}")).ok()
            if event["delivery_status"] == status:
                return event
            if time.monotonic() > deadline:
                raise AssertionError(f"event {event_id} is {event['delivery_status']}, not {status}: {event}")
            await asyncio.sleep(0.05)
