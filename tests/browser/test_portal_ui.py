"""Portal links in a real browser: a reseller's link opens its child's dashboard once, and not twice; the
reseller's view lists its child portals."""

from __future__ import annotations

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.server import Running


async def test_portal_link_opens_once(browser: Browser, page: Page, ui_server: Running, admin_api: Api) -> None:
    reseller = await admin_api.as_new_tenant("reseller")
    child = await reseller.tenant("child-portal")
    link = (await reseller.post(f"/v1/tenants/{child['id']}/portal-links", {"ttl_s": 60})).ok()
    assert link["url"].startswith(f"{ui_server.base_url}/ui/portal/")

    await page.goto(link["url"])
    await expect(page.locator(".scope")).to_contain_text("child-portal")
    await expect(page.locator(".scope")).to_contain_text("portal")
    await page.get_by_role("link", name="Endpoints").click()
    await expect(page.get_by_role("heading", name="Endpoints")).to_be_visible()

    other = await browser.new_context()
    try:
        second = await other.new_page()
        response = await second.goto(link["url"])
        assert response is not None and response.status == 410
        await expect(second.get_by_role("alert")).to_contain_text("opened already")
        await second.goto(f"{ui_server.base_url}/ui/endpoints")
        await expect(second.get_by_label("API key")).to_be_visible()  # no session was opened
    finally:
        await other.close()


async def test_reseller_makes_a_portal_link_from_the_dashboard(browser: Browser, page: Page, ui_server: Running,
                                                               admin_api: Api) -> None:
    reseller = await admin_api.as_new_tenant("reseller")
    await reseller.tenant("child-one")
    await reseller.tenant("child-two")
    await log_in(page, ui_server.base_url, reseller.key or "")
    await expect(page.locator(".scope")).to_contain_text("and its 2 child tenants")
    await page.get_by_role("link", name="Tenants").click()
    await expect(page.locator("#children tbody tr")).to_have_count(2)
    await page.get_by_role("button", name="Make a portal link for child-two").click()
    url = await page.get_by_label("One-time link").input_value()
    embedded = await browser.new_context()
    try:
        child_page = await embedded.new_page()
        await child_page.goto(url)
        await expect(child_page.locator(".scope")).to_contain_text("child-two")
        await expect(child_page.get_by_role("link", name="Tenants")).to_be_visible()
    finally:
        await embedded.close()
