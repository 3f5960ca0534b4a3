"""An endpoint's page in a real browser, proven by what real receivers get afterwards: edit its URL, event types
and custom headers; recover its failed deliveries; its recent deliveries, success rate and charts."""

from __future__ import annotations

import re
import statistics
from typing import Any

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Received, Receiver
from tests.support.server import Running


async def test_edit_url_event_types_and_headers(page: Page, ui_server: Running, admin_api: Api,
                                                receiver: Receiver) -> None:
    tenant = await admin_api.tenant("attestr-customer", profile="attestr")
    api = admin_api.as_key(tenant["api_key"])
    endpoint = await api.endpoint(receiver.url + "/old", event_types=["async.completed", "flowx.completed"])
    moved = await Receiver().start()
    try:
        await log_in(page, ui_server.base_url, api.key or "")
        await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
        await expect(page.get_by_label("flowx.completed")).to_be_checked()
        await page.get_by_label("URL", exact=True).fill(moved.url + "/new")
        await page.get_by_label("flowx.completed").uncheck()
        await page.get_by_label("async.errored").check()
        await page.get_by_label("Custom headers").fill("X-Team: kyc\nX-Region: eu-west")
        await page.get_by_role("button", name="Save changes").click()
        await expect(page.locator(".notice")).to_have_text("Changes saved.")
        await expect(page.get_by_role("heading", level=1)).to_have_text(moved.url + "/new")
        await expect(page.get_by_label("URL", exact=True)).to_have_value(moved.url + "/new")
        await expect(page.get_by_label("flowx.completed")).not_to_be_checked()
        await expect(page.get_by_label("async.errored")).to_be_checked()
        await expect(page.get_by_label("Custom headers")).to_have_value("X-Team: kyc\nX-Region: eu-west\n")

        published = {name: await api.publish(name, {"event": name})
                     for name in ("flowx.completed", "async.completed", "async.errored")}
        await api.wait_event(published["async.completed"]["id"])
        await api.wait_event(published["async.errored"]["id"])
        await moved.wait_for(2)
        assert sorted(r.json()["event"] for r in moved.requests) == ["async.completed", "async.errored"]
        assert {r.path_qs for r in moved.requests} == {"/new"}
        assert all((r.headers["x-team"], r.headers["x-region"]) == ("kyc", "eu-west") for r in moved.requests)
        assert receiver.requests == []  # the old URL gets nothing
        unticked = (await api.get(f"/v1/events/{published['flowx.completed']['id']}")).ok()
        assert unticked["deliveries"] == []  # the unticked type goes nowhere
    finally:
        await moved.stop()


async def test_recover_after_the_receiver_is_healthy_again(page: Page, ui_server: Running, admin_api: Api,
                                                           receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    endpoint = await api.endpoint(receiver.url + "/hooks", retry={"strategy": "none"})
    receiver.script(Answer(503, b"down"))
    events = [await api.publish("order.created", {"n": n}) for n in range(3)]
    for event in events:
        await api.wait_event(event["id"], "failed")
    receiver.script(Answer(200))
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    await expect(page.locator("[data-test=success-rate]")).to_have_text("0 %")
    await page.get_by_label("Failed in the last").select_option("1h")
    await page.get_by_role("button", name="Send them again").click()
    await expect(page.locator(".notice")).to_have_text("3 failed deliveries queued again.")
    await receiver.wait_for(6)
    for event in events:
        await api.wait_event(event["id"], "succeeded")
    assert sorted(r.json()["data"]["n"] for r in receiver.requests[3:]) == [0, 1, 2]
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    await expect(page.locator("[data-test=success-rate]")).to_have_text("100 %")
    await expect(page.locator("tbody td[data-label=Status]")).to_have_text(["succeeded"] * 3)


def failing_when_asked(received: Received) -> Answer:
    if b'"fail"' in received.body:
        return Answer(500, b"no")
    return Answer(200, delay_s=0.05)


async def test_recent_deliveries_success_rate_and_charts(page: Page, ui_server: Running, admin_api: Api,
                                                         receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    endpoint = await api.endpoint(receiver.url, retry={"strategy": "none"})
    receiver.handler = failing_when_asked
    events = [await api.publish("order.created", {"outcome": "fail" if n == 1 else "ok"}) for n in range(4)]
    details: list[dict[str, Any]] = []
    for number, event in enumerate(events):
        details.append(await api.wait_event(event["id"], "failed" if number == 1 else "succeeded"))
    latencies = [a["latency_ms"] for d in details for a in d["deliveries"][0]["attempts"]]

    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")
    rows = page.locator("tbody tr")
    await expect(rows).to_have_count(4)
    assert await page.locator("tbody td[data-label=Event] a").all_inner_texts() == [e["id"] for e in events[::-1]]
    assert await page.locator("tbody td[data-label=Status]").all_inner_texts() == [
        "succeeded", "succeeded", "failed", "succeeded"]
    assert await page.locator("tbody td[data-label='Last answer']").all_inner_texts() == ["200", "200", "500", "200"]
    await expect(page.locator("[data-test=success-rate]")).to_have_text("75 %")
    await expect(page.locator("#health-heading + form + p")).to_contain_text(
        "3 deliveries succeeded, 1 failed, in 4 attempts")

    charts = page.locator(".charts figure")
    await expect(charts.locator("figcaption")).to_have_text(["Delivery attempts per hour",
                                                             "Success rate of finished deliveries",
                                                             "Mean latency of answered attempts"])
    volume, rate, latency = [charts.nth(n).get_by_role("img") for n in range(3)]
    # every bar's title says its hour's figure: the attempts add up to those made
    bar_titles = await volume.locator("rect.bar title").all_text_contents()
    assert sum(int(title.rsplit(": ", 1)[1]) for title in bar_titles) == 4
    if len(bar_titles) == 1:  # all made within one hour (not across an hour's end)
        await expect(volume).to_have_attribute("aria-label", "Attempts per hour: highest 4, latest 4")
        await expect(rate).to_have_attribute("aria-label", "Success rate: highest 75 %, latest 75 %")
        mean = f"{statistics.fmean(latencies):.0f} ms"
        await expect(latency).to_have_attribute("aria-label", f"Mean latency: highest {mean}, latest {mean}")
        assert re.fullmatch(r"\d\d:00: 75 %", (await rate.locator("rect.bar title").all_text_contents())[0])
