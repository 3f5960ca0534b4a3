"""The endpoint page (send a test, disable, enable) and the event page (redeliver) with the keyboard alone: Tab
reaches each button, its focus is drawn, and Enter or Space presses it."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import log_in
from tests.support.api import Api
from tests.support.receivers import Answer, Receiver
from tests.support.server import Running

FOCUSED = """() => { const el = document.activeElement, style = getComputedStyle(el);
  return {name: (el.getAttribute('aria-label') || el.textContent).trim(), visible: el.matches(':focus-visible'),
          outline: style.outlineStyle + ' ' + style.outlineWidth}; }"""


async def tab_to(page: Page, name: str, limit: int = 60) -> None:
    """Press Tab until the button or link named `name` has the focus, and check that the focus is drawn."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(FOCUSED)
        if focused["name"] == name:
            assert focused["visible"], f"{name} has the focus but not :focus-visible"
            assert focused["outline"] == "solid 3px", f"{name}: the focus outline is {focused['outline']}"
            return
    raise AssertionError(f"Tab never reached {name!r}")


async def test_the_endpoint_page_by_keyboard(page: Page, ui_server: Running, admin_api: Api,
                                             receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    endpoint = await api.endpoint(receiver.url + "/keys")
    receiver.script(Answer(200, b"thanks"))
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/endpoints/{endpoint['id']}")

    await tab_to(page, "Send a test")
    await page.keyboard.press("Enter")
    await expect(page.locator("[data-test=status]")).to_have_text("200")
    await expect(page.locator("[data-test=body]")).to_have_text("thanks")
    assert [r.path_qs for r in receiver.requests] == ["/keys"]

    await tab_to(page, "Disable")
    await page.keyboard.press("Space")
    await expect(page.locator(".notice")).to_contain_text("Endpoint disabled")
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False

    await tab_to(page, "Enable")
    await page.keyboard.press("Enter")
    await expect(page.locator(".notice")).to_have_text("Endpoint enabled.")
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is True


async def test_redeliver_by_keyboard(page: Page, ui_server: Running, admin_api: Api, receiver: Receiver) -> None:
    api = await admin_api.as_new_tenant("acme")
    await api.endpoint(receiver.url, retry={"strategy": "none"})
    receiver.script(Answer(500), Answer(200))
    event = await api.publish("order.created", {"n": 1})
    await api.wait_event(event["id"], "failed")
    await log_in(page, ui_server.base_url, api.key or "")
    await page.goto(f"{ui_server.base_url}/ui/events/{event['id']}")
    await tab_to(page, "Redeliver")
    await page.keyboard.press("Space")
    await expect(page.locator(".notice")).to_contain_text("new delivery cycle")
    await receiver.wait_for(2)
    await api.wait_event(event["id"], "succeeded")
