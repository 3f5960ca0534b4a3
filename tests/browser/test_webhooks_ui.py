"""The dashboard in a real browser: log in, New webhook with its generated token, replace the token, send a test
to a real receiver and read its answer; what a seed fixes is shown but not editable with a tenant key."""

from __future__ import annotations

import base64

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import Running


async def test_new_webhook_token_and_test(page: Page, ui_server: Running, admin_api: Api,
                                          receiver: Receiver) -> None:
    tenant = await admin_api.tenant("attestr-customer", profile="attestr")
    receiver.script(Answer(200, b'{"received": true}'))
    await log_in(page, ui_server.base_url, tenant["api_key"])
    await expect(page.locator(".scope")).to_contain_text("attestr-customer")

    await page.get_by_role("link", name="Endpoints").click()
    await page.get_by_role("link", name="New webhook").click()
    await page.get_by_label("URL", exact=True).fill(receiver.url + "/attestr")
    await expect(page.get_by_label("Profile")).to_have_value("attestr")
    await page.get_by_label("async.completed").check()
    await page.get_by_label("flowx.completed").check()
    await expect(page.get_by_label("Authentication")).to_have_value("basic")
    generated = await page.get_by_label("Token", exact=True).input_value()
    assert len(generated) >= 32
    await expect(page.locator("#new-webhook")).to_contain_text("Fixed by the attestr profile")
    await page.get_by_role("button", name="Create webhook").click()

    await expect(page.locator(".notice")).to_have_text("Webhook created.")
    assert await page.get_by_label("Token", exact=True).input_value() == generated
    endpoint_id = page.url.rsplit("/", 1)[1].split("?")[0]
    tenant_api = admin_api.as_key(tenant["api_key"])
    endpoint = (await tenant_api.get(f"/v1/endpoints/{endpoint_id}")).ok()
    assert endpoint["event_types"] == ["async.completed", "flowx.completed"]
    assert (endpoint["timeout_s"], endpoint["success"]) == (5.0, "200")

    # the seed's rules are shown, not offered, to a tenant key
    await expect(page.locator("[data-test=fixed]")).to_be_visible()
    assert await page.locator("#timeout_s").count() == 0

    await page.get_by_label("Token", exact=True).fill("my-own-token-42")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_have_text("Changes saved.")
    secrets = (await tenant_api.get(f"/v1/endpoints/{endpoint_id}/secrets")).ok()
    assert secrets["auth"]["token"] == "my-own-token-42"

    await page.get_by_role("button", name="Send a test").click()
    await expect(page.locator("#test-result")).to_contain_text("succeeded")
    await expect(page.locator("[data-test=status]")).to_have_text("200")
    await expect(page.locator("[data-test=body]")).to_have_text('{"received": true}')
    [request] = receiver.requests
    assert request.path_qs == "/attestr"
    assert request.headers["authorization"] == "Basic my-own-token-42"
    assert base64.b64decode(request.headers["webhook-signature"].split(",", 1)[1])


async def test_admin_may_change_what_a_seed_fixes(page: Page, ui_server: Running, admin_api: Api,
                                                  receiver: Receiver) -> None:
    tenant = await admin_api.tenant("attestr-customer", profile="attestr")
    endpoint = await admin_api.endpoint(receiver.url, tenant_id=tenant["id"])
    await log_in(page, ui_server.base_url, "test-admin-key")
    await expect(page.locator(".scope")).to_contain_text("Admin")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    await page.get_by_label("Timeout in seconds").fill("7")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_have_text("Changes saved.")
    assert (await admin_api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["timeout_s"] == 7.0


async def test_disable_enable_rotate(page: Page, ui_server: Running, admin_api: Api, receiver: Receiver) -> None:
    tenant_api = await admin_api.as_new_tenant("acme")
    endpoint = await tenant_api.endpoint(receiver.url)
    first = (await tenant_api.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()["signing_secret"]
    await log_in(page, ui_server.base_url, tenant_api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator(".notice")).to_contain_text("Endpoint disabled")
    assert (await tenant_api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False
    await page.get_by_role("button", name="Enable").click()
    await expect(page.locator(".notice")).to_have_text("Endpoint enabled.")
    await page.get_by_role("button", name="Rotate signing secret").click()
    await expect(page.locator(".notice")).to_contain_text("New signing secret")
    secrets = (await tenant_api.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()
    assert secrets["signing_secret"] != first
    assert [s["secret"] for s in secrets["signing_secrets"]][1] == first
