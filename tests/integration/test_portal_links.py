"""Portal links: who may make one (admin key or an ancestor's, decided in the service), what they answer, and that
one opens once: expired, forged or opened links are refused with a page, also across two API processes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.server import ADMIN_KEY, ServeProcess, running_verihook, settings_for_tests


async def test_the_admin_and_ancestors_make_links_the_tenant_itself_and_others_do_not(admin: Api) -> None:
    reseller = await admin.as_new_tenant("reseller")
    child = await reseller.tenant("child")
    grandchild = await reseller.as_key(child["api_key"]).tenant("grandchild")
    stranger = await admin.as_new_tenant("stranger")
    for caller, tenant in ((admin, child), (reseller, child), (reseller, grandchild),
                           (reseller.as_key(child["api_key"]), grandchild)):
        link = await caller.post(f"/v1/tenants/{tenant['id']}/portal-links")
        assert link.status == 201, link.body
        assert set(link.body) == {"url", "tenant_id", "expires_at"} and link.body["tenant_id"] == tenant["id"]
        assert link.body["url"].startswith(f"{admin.base_url}/ui/portal/")
    own = await reseller.as_key(child["api_key"]).post(f"/v1/tenants/{child['id']}/portal-links")
    assert own.status == 403 and "parent" in own.body["detail"]
    assert (await stranger.post(f"/v1/tenants/{child['id']}/portal-links")).status == 404
    [reseller_id] = [t["id"] for t in (await reseller.get("/v1/tenants")).ok()["data"] if t["name"] == "reseller"]
    upward = await reseller.as_key(child["api_key"]).post(f"/v1/tenants/{reseller_id}/portal-links")
    assert upward.status == 404  # a child cannot open its parent's portal
    assert (await admin.as_key(None).post(f"/v1/tenants/{child['id']}/portal-links")).status == 401


async def test_bad_link_requests_are_refused_naming_the_field(admin: Api) -> None:
    tenant = await admin.tenant("acme")
    path = f"/v1/tenants/{tenant['id']}/portal-links"
    for body, field in (({"ttl_s": 0}, "ttl_s"), ({"ttl_s": 8 * 24 * 3600}, "ttl_s"), ({"ttl_s": "60"}, "ttl_s"),
                        ({"colour": "red"}, "colour")):
        reply = await admin.post(path, body)
        assert reply.status == 422 and reply.body["field"] == field, (body, reply.body)
    assert (await admin.post("/v1/tenants/ten_missing/portal-links")).status == 404


async def test_a_link_opens_the_tenants_dashboard_once(admin: Api, http: aiohttp.ClientSession) -> None:
    reseller = await admin.as_new_tenant("reseller")
    child = await reseller.tenant("child")
    await reseller.as_key(child["api_key"]).endpoint("http://127.0.0.1:9/child-hook")
    sibling = await reseller.endpoint("http://127.0.0.1:9/reseller-hook")
    link = (await reseller.post(f"/v1/tenants/{child['id']}/portal-links", {"ttl_s": 60})).ok()
    path = link["url"].removeprefix(admin.base_url)
    ui = DashboardClient(admin.base_url, http)
    opened = await ui.get(path)
    assert (opened.status, opened.location) == (303, "/ui/")
    listing = await ui.get("/ui/endpoints")
    assert "child-hook" in listing.text and sibling["id"] not in listing.text
    assert f"Tenant child ({child['id']})" in listing.text
    again = await DashboardClient(admin.base_url, http).get(path)
    assert again.status == 410 and "opened already" in again.text
    assert (await ui.get(path)).status == 410


async def test_expired_and_forged_links_are_refused(admin: Api, http: aiohttp.ClientSession) -> None:
    tenant = await admin.tenant("acme")
    link = (await admin.post(f"/v1/tenants/{tenant['id']}/portal-links", {"ttl_s": 0.3})).ok()
    path = link["url"].removeprefix(admin.base_url)
    await asyncio.sleep(0.5)
    ui = DashboardClient(admin.base_url, http)
    expired = await ui.get(path)
    assert expired.status == 410 and "expired" in expired.text and "verihook_session" not in ui.cookies
    fresh = (await admin.post(f"/v1/tenants/{tenant['id']}/portal-links")).ok()["url"].removeprefix(admin.base_url)
    body, signature = fresh.rsplit("/", 1)[1].split(".")
    for forged in (f"{body}.{signature[:-2]}AA", f"{body}x.{signature}", "nonsense", body):
        refused = await ui.get(f"/ui/portal/{forged}")
        assert refused.status == 410 and "not a valid portal link" in refused.text
    session_token_as_link = await DashboardClient(admin.base_url, http).log_in(tenant["api_key"])
    assert session_token_as_link.status == 303


async def test_a_link_opens_once_across_two_api_processes(database_url: str, http: aiohttp.ClientSession) -> None:
    settings = settings_for_tests(database_url)
    async with running_verihook(settings, run_dispatcher=False) as one, \
            running_verihook(settings, run_dispatcher=False) as two:
        admin = Api(one.base_url, "test-admin-key", http)
        tenant = await admin.tenant("acme")
        links = [(await admin.post(f"/v1/tenants/{tenant['id']}/portal-links")).ok()["url"] for _ in range(5)]
        for url in links:
            path = url.removeprefix(one.base_url)
            tries = [DashboardClient(base, http).get(path) for base in (one.base_url, two.base_url) * 4]
            statuses = sorted(page.status for page in await asyncio.gather(*tries))
            assert statuses == [303] + [410] * 7, statuses


async def test_a_link_opened_by_one_api_process_is_refused_by_another(database_url: str, tmp_path: Path,
                                                                     http: aiohttp.ClientSession) -> None:
    """Two `verihook api` OS processes on one database: a link opened on either is refused on the other, and the
    session the first opened is good on both."""
    one = ServeProcess(database_url, tmp_path, role="api")
    two = ServeProcess(database_url, tmp_path, role="api")
    try:
        await one.start()  # one after the other: the first migrates the database
        await two.start()
        admin = Api(one.base_url, ADMIN_KEY, http)
        tenant = await admin.tenant("acme")
        for first, second in ((one, two), (two, one)):
            url = (await admin.post(f"/v1/tenants/{tenant['id']}/portal-links", {"ttl_s": 60})).ok()["url"]
            path = url.removeprefix(one.base_url)
            assert path.startswith("/ui/portal/")
            visitor = DashboardClient(first.base_url, http)
            opened = await visitor.get(path)
            assert (opened.status, opened.location) == (303, "/ui/"), opened.text
            refused = await DashboardClient(second.base_url, http).get(path)
            assert refused.status == 410 and "opened already" in refused.text
            assert "verihook_session" not in "".join(refused.set_cookies)
            visitor.base_url = second.base_url  # the session opened on one process is good on the other
            assert "Tenant acme" in (await visitor.get("/ui/endpoints")).text
    finally:
        one.stop()
        two.stop()
