"""Incode's OAuth2 settings in a real browser: New webhook with the incode profile and OAuth2 client credentials,
a test that fetches a token from a real local token server and sends it to the receiver, then a new client secret."""

from __future__ import annotations

import base64

import orjson
from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import Running


def token_server_and_receiver(received: Received) -> Answer:
    if received.path_qs == "/oauth/token":
        client = base64.b64decode(received.headers["authorization"].removeprefix("Basic ")).decode()
        token = f"token-for-{client.replace(':', '-')}"
        return Answer(200, orjson.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 3600}))
    return Answer(200, b'{"success": true}')


async def test_incode_oauth2_settings(page: Page, ui_server: Running, admin_api: Api, receiver: Receiver) -> None:
    tenant = await admin_api.tenant("incode-customer", profile="incode")
    receiver.handler = token_server_and_receiver
    await log_in(page, ui_server.base_url, tenant["api_key"])
    await page.goto(f"{ui_server.base_url}/ui/endpoints/new")
    await page.get_by_label("URL", exact=True).fill(receiver.url + "/incode/webhook")
    await expect(page.get_by_label("Profile")).to_have_value("incode")
    await page.get_by_label("onboarding.status_changed").check()
    await expect(page.get_by_label("Token URL")).to_be_hidden()
    await page.get_by_label("Authentication").select_option("oauth2")
    await expect(page.get_by_label("Token", exact=True)).to_be_hidden()
    await page.get_by_label("Token URL").fill(receiver.url + "/oauth/token")
    await page.get_by_label("Client ID").fill("acme")
    await page.get_by_label("Client secret").fill("first-secret")
    await page.get_by_label("Scope").fill("webhooks")
    await page.get_by_role("button", name="Create webhook").click()
    await expect(page.locator(".notice")).to_have_text("Webhook created.")
    await expect(page.get_by_label("Client ID")).to_have_value("acme")
    assert "first-secret" not in await page.content()

    await page.get_by_role("button", name="Send a test").click()
    await expect(page.locator("[data-test=status]")).to_have_text("200")
    hook = [r for r in receiver.requests if r.path_qs == "/incode/webhook"]
    assert hook[-1].headers["authorization"] == "Bearer token-for-acme-first-secret"

    await page.get_by_label("Client secret").fill("second-secret")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_have_text("Changes saved.")
    endpoint_id = page.url.rsplit("/", 1)[1].split("?")[0]
    secrets = (await admin_api.get(f"/v1/endpoints/{endpoint_id}/secrets")).ok()
    assert secrets["auth"] == {"type": "oauth2", "token_url": receiver.url + "/oauth/token", "client_id": "acme",
                               "client_secret": "second-secret", "scope": "webhooks"}
    await page.get_by_label("Scope").fill("")
    await page.get_by_role("button", name="Save changes").click()  # an empty secret field keeps the secret
    secrets = (await admin_api.get(f"/v1/endpoints/{endpoint_id}/secrets")).ok()
    assert secrets["auth"] == {"type": "oauth2", "token_url": receiver.url + "/oauth/token", "client_id": "acme",
                               "client_secret": "second-secret"}
