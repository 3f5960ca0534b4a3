"""An endpoint's rate limit and auto-disable in a real browser, proven by what a real receiver gets: set on New
webhook (a bad value refused on the form first), shown on the endpoint's page, then the endpoint disabled by its
failures; and changed on the endpoint's page."""

from __future__ import annotations

import time

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.integration.test_rate_limit import most_in_one_second
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import Running

FAILURES = 6


async def test_a_rate_limited_endpoint_that_fails_is_disabled(page: Page, ui_server: Running, admin_api: Api,
                                                              receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    receiver.handler = lambda received: Answer(500)
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/new")
    await page.get_by_label("URL", exact=True).fill(receiver.url + "/hooks")
    await page.get_by_label("Rate limit, requests a second").fill("0")
    await page.get_by_label("Disable the endpoint when every attempt fails").select_option("on")
    await page.get_by_label("Failing for, seconds").fill("1")
    await page.get_by_label("At least this many failed attempts").fill("3")
    await page.get_by_role("button", name="Create webhook").click()
    await expect(page.get_by_role("alert")).to_contain_text("rate_limit_per_s must be a number over 0")
    await expect(page.get_by_label("Rate limit, requests a second")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Failing for, seconds")).to_have_value("1")  # what was typed is kept
    assert (await api.get("/v1/endpoints")).ok()["data"] == []

    await page.get_by_label("URL", exact=True).fill(receiver.url + "/hooks")
    await page.get_by_label("Rate limit, requests a second").fill("2")
    await page.get_by_role("button", name="Create webhook").click()
    await expect(page.locator(".notice")).to_have_text("Webhook created.")
    await expect(page.locator("[data-test=health-summary]")).to_have_text(
        "Rate limit: 2 requests a second · auto-disable: after 1 s of failures and at least 3 failed attempts")
    await expect(page.get_by_label("Rate limit, requests a second")).to_have_value("2")

    [endpoint] = (await api.get("/v1/endpoints")).ok()["data"]
    assert endpoint["rate_limit_per_s"] == 2 and endpoint["auto_disable"] == {"failing_for_s": 1, "min_failures": 3}
    started = time.time()
    for n in range(FAILURES):
        await api.publish("order.created", {"n": n})
    await receiver.wait_for(3, timeout=15)
    deadline = time.monotonic() + 15
    while (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"]:
        assert time.monotonic() < deadline, "the failing endpoint was never disabled"
        await page.wait_for_timeout(100)
    arrived = [r.at for r in receiver.requests]
    assert most_in_one_second(arrived) <= 2 + 1, [t - started for t in arrived]  # the rate, and a burst of one
    assert 3 <= len(arrived) < FAILURES  # disabled before every event was tried
    await page.reload()
    await expect(page.locator(".heading .badge")).to_have_text("disabled")
    await expect(page.get_by_text("disabled: every attempt failed for 1 s (3 attempts or more)")).to_be_visible()


async def test_change_the_rate_limit_and_turn_auto_disable_off(page: Page, ui_server: Running, admin_api: Api,
                                                               receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    endpoint = await api.endpoint(receiver.url, rate_limit_per_s=100)
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    await expect(page.get_by_label("Disable the endpoint when every attempt fails")).to_have_value("on")
    await expect(page.get_by_label("Failing for, seconds")).to_have_value("432000")
    await page.get_by_label("At least this many failed attempts").fill("none")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.get_by_role("alert")).to_contain_text("failed attempts must be a number")
    await expect(page.get_by_label("At least this many failed attempts")).to_have_attribute("aria-invalid", "true")

    await page.get_by_label("Rate limit, requests a second").fill("1")
    await page.get_by_label("Disable the endpoint when every attempt fails").select_option("off")
    await page.get_by_role("button", name="Save changes").click()
    await expect(page.locator(".notice")).to_have_text("Changes saved.")
    await expect(page.locator("[data-test=health-summary]")).to_have_text(
        "Rate limit: 1 requests a second · auto-disable: never")
    after = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (after["rate_limit_per_s"], after["auto_disable"]) == (1.0, None)

    for n in range(3):
        await api.publish("order.created", {"n": n})
    requests = await receiver.wait_for(3, timeout=15)
    assert max(r.at for r in requests) - min(r.at for r in requests) >= 2 / 1 - 0.5  # one a second
