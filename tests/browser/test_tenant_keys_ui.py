"""The tenants page in a real browser: a reseller rotates its key (the new one is shown once and works) and
suspends, then resumes, a child."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.server import Running


async def test_rotate_the_key_and_suspend_a_child(page: Page, ui_server: Running, admin_api: Api) -> None:
    reseller = await admin_api.as_new_tenant("reseller")
    child = await reseller.tenant("child-one")
    await log_in(page, ui_server.base_url, reseller.key or "")
    await page.get_by_role("link", name="Tenants").click()
    await expect(page.locator("#api-keys tbody tr")).to_have_count(1)

    await page.get_by_label("Keep older keys valid for").select_option("24h")
    await page.get_by_role("button", name="Rotate key").click()
    new_key = await page.get_by_label("New API key (shown once: copy it now)").input_value()
    assert new_key.startswith("vh_") and new_key != reseller.key
    assert (await reseller.as_key(new_key).get("/v1/endpoints")).status == 200
    await expect(page.locator("#api-keys tbody tr")).to_have_count(2)

    await page.get_by_role("button", name="Suspend child-one").click()
    await expect(page.get_by_role("status")).to_contain_text("Tenant suspended")
    await expect(page.locator("#children")).to_contain_text("Suspended")
    assert (await reseller.as_key(child["api_key"]).get("/v1/endpoints")).status == 403
    await page.get_by_role("button", name="Resume child-one").click()
    await expect(page.locator("#children")).to_contain_text("Active")
    assert (await reseller.as_key(child["api_key"]).get("/v1/endpoints")).status == 200
