"""The event log in a real browser: filter the failed events, open one, redeliver it and see it succeed; the
subject and time-window filters; paging both ways."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import Running


async def test_filter_failed_redeliver_and_see_success(page: Page, ui_server: Running, admin_api: Api,
                                                       receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url + "/hooks", retry={"strategy": "none"})
    receiver.script(Answer(200), Answer(500, b"down for maintenance"), Answer(200))
    events = []
    for number in range(3):  # the second one fails for good (no retry)
        event = await api.publish("order.created", {"order": number})
        await receiver.wait_for(number + 1)
        events.append(event)
    failed = await api.wait_event(events[1]["id"], "failed")
    await api.wait_event(events[2]["id"], "succeeded")
    assert failed["deliveries"][0]["last_status_code"] == 500

    await log_in(page, ui_server.base_url, api.key or "")
    await page.get_by_role("link", name="Events", exact=True).click()
    await expect(page.locator("tbody tr")).to_have_count(3)
    await page.get_by_label("Status").select_option("failed")
    await page.get_by_label("Time window").select_option("1h")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody")).to_contain_text(events[1]["id"])

    await page.get_by_role("link", name=events[1]["id"]).click()
    await expect(page.locator("[data-test=event-status]")).to_have_text("failed")
    await expect(page.locator(".attempt")).to_contain_text("HTTP 500")
    await expect(page.locator(".attempt[open]")).to_contain_text("down for maintenance")
    await expect(page.locator(".attempt[open]")).to_contain_text("webhook-signature")
    await page.get_by_text("Request body").click()
    sent = receiver.requests[1].body.decode()
    await expect(page.locator(".request-body pre")).to_have_text(sent)  # what the receiver got, byte for byte

    await page.get_by_role("button", name="Redeliver").click()
    await expect(page.locator(".notice")).to_contain_text("new delivery cycle")
    await receiver.wait_for(4)
    await api.wait_event(events[1]["id"], "succeeded")
    await page.reload()
    await expect(page.locator("[data-test=event-status]")).to_have_text("succeeded")
    await expect(page.locator(".attempt")).to_have_count(2)


async def test_event_log_pages_and_keeps_filters(page: Page, ui_server: Running, admin_api: Api,
                                                 receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url)
    published = (await api.post("/v1/events/batch", {"events": [
        {"type": "order.created" if i % 2 else "order.paid", "data": {"i": i}} for i in range(60)]})).ok()["data"]
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/events?type=order.created")
    await expect(page.locator("tbody tr")).to_have_count(25)
    await page.get_by_role("link", name="Older events").click()
    await expect(page.locator("tbody tr")).to_have_count(5)
    assert "type=order.created" in page.url
    await expect(page.get_by_label("Type")).to_have_value("order.created")
    shown = await page.locator("tbody tr td:first-child").all_inner_texts()
    wanted = {p["id"] for p in published if p["type"] == "order.created"}
    assert set(shown) <= wanted
    await expect(page.get_by_role("link", name="Older events")).to_have_count(0)


async def test_the_subject_filter_shows_only_that_subjects_events(page: Page, ui_server: Running, admin_api: Api,
                                                                  receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url)
    alice = (await api.post("/v1/subjects", {"kind": "verification", "external_id": "alice"})).ok()
    bob = (await api.post("/v1/subjects", {"kind": "verification", "external_id": "bob"})).ok()
    of_alice = [await api.publish("order.created", {"n": n}, subject_id=alice["id"]) for n in range(2)]
    of_bob = [await api.publish("order.created", {"n": n}, subject_id=bob["id"]) for n in range(3)]
    await api.publish("order.created", {"n": "no subject"})
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/events")
    await expect(page.locator("tbody tr")).to_have_count(6)
    await page.get_by_label("Subject").fill(alice["id"])
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(2)
    shown = await page.locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(e["id"] for e in of_alice)
    assert set(await page.locator("tbody td[data-label=Subject]").all_inner_texts()) == {alice["id"]}
    await expect(page.get_by_label("Subject")).to_have_value(alice["id"])

    await page.get_by_label("Subject").fill(bob["id"])
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator("tbody tr")).to_have_count(3)
    shown = await page.locator("tbody tr td:first-child").all_inner_texts()
    assert sorted(shown) == sorted(e["id"] for e in of_bob)


async def test_the_time_window_leaves_out_older_events(page: Page, ui_server: Running, admin_api: Api,
                                                       receiver: Receiver, tmp_path: Path) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url)
    old = await api.publish("order.created", {"age": "two hours"})
    recent = await api.publish("order.created", {"age": "now"})
    # the API takes no publishing time, so the one older event is moved back two hours in the store's own file
    with sqlite3.connect(tmp_path / "verihook.db") as db:
        moved = db.execute("UPDATE events SET created_at = ? WHERE id = ?", (time.time() - 7200, old["id"]))
        assert moved.rowcount == 1
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/events")
    for window, shown in (("1h", [recent["id"]]), ("24h", [recent["id"], old["id"]]),
                          ("", [recent["id"], old["id"]])):
        await page.get_by_label("Time window").select_option(window)
        await page.get_by_role("button", name="Filter").click()
        await expect(page.locator("tbody tr")).to_have_count(len(shown))
        assert await page.locator("tbody tr td:first-child").all_inner_texts() == shown, window
        await expect(page.get_by_label("Time window")).to_have_value(window)


async def test_event_log_pages_older_and_back_newer(page: Page, ui_server: Running, admin_api: Api,
                                                    receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url)
    await api.post("/v1/events/batch", {"events": [
        {"type": "order.created" if i % 2 else "order.paid", "data": {"i": i}} for i in range(120)]})
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/events?type=order.created")
    first_ids = page.locator("tbody tr td:first-child")
    paging = page.get_by_role("navigation", name="Pages")
    seen = []
    for rows in (25, 25, 10):  # 60 of the type: three pages, newest first
        await expect(first_ids).to_have_count(rows)
        seen.append(await first_ids.all_inner_texts())
        if rows == 10:
            break
        await paging.get_by_role("link", name="Older events").click()
    assert len({i for shown in seen for i in shown}) == 60
    await expect(paging.get_by_role("link")).to_have_text(["Newest", "Newer events"])
    await paging.get_by_role("link", name="Newer events").click()
    await expect(first_ids).to_have_text(seen[1])
    await expect(page.get_by_label("Type")).to_have_value("order.created")
    await expect(paging.get_by_role("link")).to_have_text(["Newer events", "Older events"])  # Newer is the newest
    await paging.get_by_role("link", name="Newer events").click()
    await expect(first_ids).to_have_text(seen[0])
    assert "cursor" not in page.url and "type=order.created" in page.url
    await expect(paging.get_by_role("link")).to_have_text(["Older events"])
    await paging.get_by_role("link", name="Older events").click()
    await paging.get_by_role("link", name="Older events").click()
    await expect(first_ids).to_have_text(seen[2])
    await paging.get_by_role("link", name="Newest").click()
    await expect(first_ids).to_have_text(seen[0])
