"""The portal inside another site's iframe: a page of http://localhost:PORT embeds a portal link served over
HTTPS by 127.0.0.1 (another site), and the dashboard opens logged in inside the frame, stays logged in from page
to page and posts its forms (SameSite=None; Secure; Partitioned cookies, frame-ancestors naming the embedder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import Browser, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.api import Api
from tests.support.server import ADMIN_KEY, free_port, running_verihook, settings_for_tests
from tests.tlsutil import make_tls
from verihook.config import frame_ancestors


@pytest.fixture
async def tls_browser() -> AsyncIterator[Browser]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=[*CHROMIUM_ARGS, "--ignore-certificate-errors"])
        yield browser
        await browser.close()


async def embedding_site(port: int, frames: dict[str, str]) -> web.AppRunner:
    """A platform's page on http://localhost:PORT showing `frames["src"]` in an iframe."""
    async def page(_: web.Request) -> web.Response:
        html = (f'<!doctype html><title>Platform</title><h1>Platform</h1>'
                f'<iframe title="portal" src="{frames["src"]}" width="1200" height="800"></iframe>')
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def test_a_portal_link_opens_logged_in_inside_another_sites_iframe(tls_browser: Browser,
                                                                          tmp_path: Path) -> None:
    tls = make_tls(tmp_path)
    platform_port = free_port()
    platform = f"http://localhost:{platform_port}"
    frames: dict[str, str] = {}
    runner = await embedding_site(platform_port, frames)
    settings = settings_for_tests(f"sqlite:///{tmp_path / 'verihook.db'}",
                                  portal_frame_ancestors=frame_ancestors(platform))
    try:
        async with running_verihook(settings, tls=(tls.cert_file, tls.key_file)) as verihook, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls.client_context())) as http:
            admin = Api(verihook.base_url, ADMIN_KEY, http)
            reseller = await admin.as_new_tenant("reseller")
            child = await reseller.tenant("embedded-child")
            link = (await reseller.post(f"/v1/tenants/{child['id']}/portal-links", {"ttl_s": 60})).ok()
            assert link["url"].startswith("https://127.0.0.1:")
            frames["src"] = link["url"]

            context = await tls_browser.new_context(viewport={"width": 1280, "height": 900})
            context.set_default_timeout(10_000)
            try:
                page = await context.new_page()
                await page.goto(f"{platform}/")
                portal = page.frame_locator("iframe[title=portal]")
                await expect(portal.locator(".scope")).to_contain_text("embedded-child")
                await expect(portal.get_by_role("heading", name="Overview")).to_be_visible()
                await portal.get_by_role("link", name="Endpoints").click()
                await expect(portal.get_by_role("heading", name="Endpoints")).to_be_visible()
                await portal.get_by_role("link", name="New webhook").first.click()
                await portal.get_by_label("URL", exact=True).fill("https://receiver.example/hook")
                await portal.get_by_role("button", name="Create webhook").click()
                await expect(portal.locator(".notice")).to_have_text("Webhook created.")  # the POST went through
                await expect(portal.locator(".scope")).to_contain_text("embedded-child")  # and kept the session
                endpoints = (await admin.get("/v1/endpoints")).ok()
                assert [e["url"] for e in endpoints["data"] if e["tenant_id"] == child["id"]] == [
                    "https://receiver.example/hook"]
                cookies = [c for c in await context.cookies() if c["name"] == "verihook_session"]
                assert [(c["sameSite"], c["secure"]) for c in cookies] == [("None", True)]
            finally:
                await context.close()
    finally:
        await runner.cleanup()
