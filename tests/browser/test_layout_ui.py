"""Every main page in a real browser: readable 390 px wide without sideways scrolling, every field labelled,
usable with the keyboard alone, under a Content-Security-Policy of 'self' and loading nothing from elsewhere;
screenshots of each (kept where VERIHOOK_SCREENSHOTS names a folder)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import Running

UNLABELLED = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label') && !el.textContent.trim())
  .map(el => el.outerHTML)"""
# every URL a page names in an attribute (scripts, stylesheets, icons, images, links, forms), resolved
NAMED_URLS = """() => [...document.querySelectorAll('[src], [href], [action], [srcset], [poster]')]
  .flatMap(el => ['src', 'href', 'action', 'poster'].filter(a => el.hasAttribute(a))
    .map(a => ({tag: el.tagName, attribute: a, url: new URL(el.getAttribute(a), document.baseURI).href})))"""
SCREENSHOTS = ("overview", "endpoints", "new-webhook", "endpoint-detail", "events", "event-detail", "subjects",
               "subject-detail", "tenants")


async def seed_a_tenant(admin_api: Api, receiver: Receiver) -> dict[str, Any]:
    """A reseller with two child tenants, two endpoints, succeeded and failed events, and a subject with a status
    history."""
    api = await admin_api.as_new_tenant("Acme Verification Ltd")
    for child in ("Acme Retail Onboarding", "Acme Lending (EU)"):
        await api.tenant(child)
    receiver.handler = lambda r: Answer(500, b'{"error":"unavailable"}') if b'"fail"' in r.body else Answer(200)
    endpoint = await api.endpoint(receiver.url + "/webhooks/verihook?source=portal", retry={"strategy": "none"},
                                  description="Production receiver", event_types=["order.created", "order.paid"],
                                  auth={"type": "basic"}, headers={"X-Team": "kyc"})
    await api.endpoint(receiver.url + "/second", event_types=["subject.status_changed"])
    subject = (await api.post("/v1/subjects", {"kind": "verification", "external_id": "customer-881",
                                               "status": "started"})).ok()
    await api.patch(f"/v1/subjects/{subject['id']}", {"status": "documents_received"})
    await api.patch(f"/v1/subjects/{subject['id']}", {"status": "approved"})
    events = [await api.publish("order.created", {"order_id": f"o-{i}", "outcome": "fail" if i == 2 else "ok"})
              for i in range(4)]
    await api.publish("order.paid", {"order_id": "o-1", "amount": 1250})
    await api.wait_event(events[2]["id"], "failed")
    for event in (events[0], events[1], events[3]):
        await api.wait_event(event["id"], "succeeded")
    return {"api": api, "endpoint": endpoint, "event": events[2], "subject": subject}


def main_pages(seeded: dict[str, Any]) -> dict[str, str]:
    return {"overview": "/ui/", "endpoints": "/ui/endpoints", "new-webhook": "/ui/endpoints/new",
            "endpoint-detail": f"/ui/endpoints/{seeded['endpoint']['id']}", "events": "/ui/events",
            "event-detail": f"/ui/events/{seeded['event']['id']}", "subjects": "/ui/subjects",
            "subject-detail": f"/ui/subjects/{seeded['subject']['id']}", "tenants": "/ui/tenants"}


async def test_main_pages_narrow_labelled_and_pictured(browser: Browser, ui_server: Running, admin_api: Api,
                                                       receiver: Receiver, screenshots: Path) -> None:
    seeded = await seed_a_tenant(admin_api, receiver)
    pages = main_pages(seeded)
    for width, suffix in ((1280, ""), (390, "-390")):
        context = await browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = await context.new_page()
            await log_in(page, ui_server.base_url, seeded["api"].key)
            for name, path in pages.items():
                response = await page.goto(ui_server.base_url + path)
                assert response is not None and response.status == 200, (name, response and response.status)
                assert await page.evaluate(UNLABELLED) == [], name
                scroll_width = await page.evaluate("document.documentElement.scrollWidth")
                assert scroll_width <= width, f"{name} is {scroll_width} px wide at {width} px"
                if name == "tenants":  # with a portal link made, as a reseller sees it
                    await page.get_by_role("button", name="Make a portal link for Acme Lending (EU)").click()
                    await expect(page.get_by_label("One-time link")).to_be_visible()
                    await expect(page.locator("#link-heading")).to_have_text("Portal link for Acme Lending (EU)")
                    await expect(page.locator("main > p.hint")).to_contain_text("lists too. A portal link")
                    assert await page.evaluate("document.documentElement.scrollWidth") <= width
                if name in SCREENSHOTS:
                    await page.screenshot(path=str(screenshots / f"{name}{suffix}.png"), full_page=True)
                if name == "new-webhook":  # Attestr's flow: its six types, the generated token, the fixed rules
                    await page.get_by_label("Profile").select_option("attestr")
                    await expect(page.get_by_label("Token", exact=True)).to_be_visible()
                    assert await page.evaluate("document.documentElement.scrollWidth") <= width
                    await page.screenshot(path=str(screenshots / f"new-webhook-attestr{suffix}.png"), full_page=True)
        finally:
            await context.close()


async def test_keyboard_only_login_and_new_webhook(page: Page, ui_server: Running, admin_api: Api,
                                                   receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await page.goto(f"{ui_server.base_url}/ui/login")
    assert await page.evaluate("document.activeElement.id") == "api_key"  # the one field has the focus
    await page.keyboard.type(api.key or "")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{ui_server.base_url}/ui/")

    await page.goto(f"{ui_server.base_url}/ui/endpoints/new")
    order: list[str] = []
    for _ in range(40):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
        order.append(focused)
        if focused == "url":
            await page.keyboard.type(receiver.url + "/keyboard")
        if focused == "other-standard":
            await page.keyboard.type("order.created")
        if focused == "Create webhook":
            break
    assert order[0] == "Skip to content"
    fields = [f for f in order if f in ("url", "description", "profile", "other-standard", "auth_type", "headers",
                                        "enabled", "Create webhook")]
    assert fields == ["url", "description", "profile", "other-standard", "auth_type", "headers", "enabled",
                      "Create webhook"]
    assert "token" not in order  # hidden with auth "none", so the tab order skips it
    await page.keyboard.press("Enter")
    await expect(page.locator(".notice")).to_have_text("Webhook created.")
    [endpoint] = (await api.get("/v1/endpoints")).ok()["data"]
    assert (endpoint["url"], endpoint["event_types"]) == (receiver.url + "/keyboard", ["order.created"])


async def test_every_page_has_the_csp_and_loads_nothing_from_elsewhere(browser: Browser, ui_server: Running,
                                                                       admin_api: Api, receiver: Receiver) -> None:
    seeded = await seed_a_tenant(admin_api, receiver)
    origin = ui_server.base_url
    context = await browser.new_context()
    fetched: list[str] = []
    context.on("request", lambda request: fetched.append(request.url))
    try:
        page = await context.new_page()
        login = await page.goto(f"{origin}/ui/login")
        assert login is not None
        assert login.headers["content-security-policy"].startswith("default-src 'self'")
        assert [n for n in await page.evaluate(NAMED_URLS) if not n["url"].startswith(origin + "/")] == []
        await log_in(page, origin, seeded["api"].key)
        for name, path in main_pages(seeded).items():
            response = await page.goto(origin + path)
            assert response is not None and response.status == 200, name
            policy = dict(d.strip().split(" ", 1) for d in response.headers["content-security-policy"].split(";"))
            assert policy["default-src"] == "'self'", name  # fonts and connections fall back to it
            assert (policy["script-src"], policy["style-src"], policy["img-src"]) == ("'self'", "'self'",
                                                                                    "'self' data:"), name
            named = await page.evaluate(NAMED_URLS)
            assert {n["tag"] for n in named} >= {"LINK", "SCRIPT", "A", "FORM"}, name
            elsewhere = [n for n in named if not n["url"].startswith(origin + "/")]
            assert elsewhere == [], f"{name} names URLs elsewhere: {elsewhere}"
        assert fetched and [url for url in fetched if not url.startswith(origin + "/")] == []
        assert {urlsplit(url).path for url in fetched} >= {"/ui/static/style.css", "/ui/static/app.js"}
    finally:
        await context.close()
    stylesheet = (await admin_api.get("/ui/static/style.css")).body
    assert re.findall(r"url\(|@import|@font-face", stylesheet) == []  # no font or image fetched by the CSS
