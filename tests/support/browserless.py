"""A plain HTTP client for the dashboard: keeps its cookies, follows no redirect, posts forms like a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from http.cookies import SimpleCookie

import aiohttp

CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass(slots=True)
class Page:
    status: int
    text: str
    location: str | None
    set_cookies: list[str]

    @property
    def csrf(self) -> str:
        found = CSRF_FIELD.search(self.text)
        assert found, "the page has no form with a CSRF token"
        return found.group(1)


class DashboardClient:
    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Page:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        async with self.session.request(method, self.base_url + path, data=form, headers=headers,
                                        allow_redirects=False) as response:
            set_cookies = response.headers.getall("Set-Cookie", [])
            for header in set_cookies:
                for name, morsel in SimpleCookie(header).items():
                    if morsel.value and morsel["max-age"] != "0":
                        self.cookies[name] = morsel.value
                    else:
                        self.cookies.pop(name, None)
            return Page(response.status, await response.text(), response.headers.get("Location"), set_cookies)

    async def get(self, path: str) -> Page:
        return await self.request("GET", path)

    async def post(self, path: str, form: dict[str, str]) -> Page:
        return await self.request("POST", path, form)

    async def log_in(self, api_key: str) -> Page:
        form = await self.get("/ui/login")
        return await self.post("/ui/login", {"csrf": form.csrf, "api_key": api_key, "next": ""})
