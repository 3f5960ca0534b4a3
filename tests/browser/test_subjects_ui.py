"""Subjects in a real browser: the list, and a subject's page with its status history, oldest first, each
change linking the event it published."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Receiver
from tests.support.server import Running


async def test_a_subject_page_shows_its_status_history(page: Page, ui_server: Running, admin_api: Api,
                                                       receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url)
    subject = (await api.post("/v1/subjects", {"kind": "verification", "external_id": "customer-7",
                                               "status": "started"})).ok()
    for status in ("documents_received", "approved"):
        await api.patch(f"/v1/subjects/{subject['id']}", {"status": status})
    other = (await api.post("/v1/subjects", {"kind": "verification", "external_id": "customer-8"})).ok()
    history = (await api.get(f"/v1/subjects/{subject['id']}")).ok()

    await log_in(page, ui_server.base_url, api.key or "")
    await page.get_by_role("link", name="Subjects").click()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await page.get_by_role("link", name=subject["id"]).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"verification {subject['id']}")
    await expect(page.locator(".pairs")).to_contain_text("approved")
    await expect(page.locator(".pairs")).to_contain_text("customer-7")
    changes = page.locator("ol.history li")
    await expect(changes.locator("strong")).to_have_text(["started", "documents_received", "approved"])
    assert other["id"] not in await page.content()
    linked = await changes.get_by_role("link").evaluate_all("links => links.map(a => [a.textContent, a.pathname])")
    published = [h["event_id"] for h in history["history"] if h["event_id"]]
    assert len(published) == 2  # the two changes after the first published an event each
    assert linked == [[event_id, f"/ui/events/{event_id}"] for event_id in published]

    await page.get_by_role("link", name="Events of this subject").click()
    rows = page.locator("tbody td[data-label=Subject]")
    await expect(rows).to_have_count(len(published))
    assert set(await rows.all_inner_texts()) <= {subject["id"]}
