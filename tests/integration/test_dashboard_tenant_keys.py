"""The tenants page over plain HTTP: a tenant rotates its API key (shown once) and revokes keys; a reseller or the
admin suspends and resumes a child; every form needs the session's CSRF token. Both stores."""

from __future__ import annotations

import re

import aiohttp

from tests.support.api import Api
from tests.support.browserless import DashboardClient

NEW_KEY = re.compile(r'id="new-api-key" readonly value="([^"]+)"')


async def logged_in(api: Api, http: aiohttp.ClientSession) -> DashboardClient:
    ui = DashboardClient(api.base_url, http)
    assert (await ui.log_in(api.key or "")).status == 303
    return ui


async def test_a_tenant_rotates_its_key_on_the_tenants_page(admin: Api, http: aiohttp.ClientSession) -> None:
    made = await admin.tenant("acme")
    api = admin.as_key(made["api_key"])
    ui = await logged_in(api, http)
    page = await ui.get("/ui/tenants")
    assert page.status == 200 and ">API keys</h2>" in page.text and made["api_key"][:10] + "…" in page.text
    assert made["api_key"] not in page.text

    rotated = await ui.post(f"/ui/tenants/{made['id']}/keys", {"csrf": page.csrf, "grace": "24h"})
    assert rotated.status == 200 and "shown once" in rotated.text
    found = NEW_KEY.search(rotated.text)
    assert found is not None
    new_key = found.group(1)
    assert (await api.as_key(new_key).get("/v1/endpoints")).status == 200
    assert (await api.get("/v1/endpoints")).status == 200  # the old key's day of grace
    listed = await ui.get("/ui/tenants")
    assert new_key not in listed.text  # shown once only
    [old_id] = [k["id"] for k in (await api.get(f"/v1/tenants/{made['id']}/keys")).ok()["data"]
                if not new_key.startswith(k["prefix"])]

    revoked = await ui.post(f"/ui/tenants/{made['id']}/keys/{old_id}/revoke", {"csrf": listed.csrf})
    assert revoked.status == 303 and revoked.location is not None and "done=revoked" in revoked.location
    assert (await api.get("/v1/endpoints")).status == 401
    assert (await ui.get("/ui/tenants")).status == 303  # the session was opened with the revoked key
    ui = await logged_in(api.as_key(new_key), http)

    now = await ui.get("/ui/tenants")
    at_once = await ui.post(f"/ui/tenants/{made['id']}/keys", {"csrf": now.csrf, "grace": "0"})
    newest = NEW_KEY.search(at_once.text)
    assert at_once.status == 200 and newest is not None
    assert (await api.as_key(new_key).get("/v1/endpoints")).status == 401
    assert (await api.as_key(newest.group(1)).get("/v1/endpoints")).status == 200


async def test_the_forms_need_the_csrf_token_and_a_known_grace(admin: Api, http: aiohttp.ClientSession) -> None:
    parent = await admin.tenant("parent")
    parent_api = admin.as_key(parent["api_key"])
    child = (await parent_api.post("/v1/tenants", {"name": "child"})).ok()
    ui = await logged_in(parent_api, http)
    page = await ui.get("/ui/tenants")
    [key] = (await parent_api.get(f"/v1/tenants/{parent['id']}/keys")).ok()["data"]
    for path in (f"/ui/tenants/{parent['id']}/keys", f"/ui/tenants/{parent['id']}/keys/{key['id']}/revoke",
                 f"/ui/tenants/{child['id']}/suspend"):
        for csrf in ("", "forged"):
            refused = await ui.post(path, {"csrf": csrf, "grace": "0"})
            assert refused.status == 403 and "CSRF" in refused.text, (path, csrf)
    bad = await ui.post(f"/ui/tenants/{parent['id']}/keys", {"csrf": page.csrf, "grace": "forever"})
    assert bad.status == 422 and "keep older keys" in bad.text
    assert len((await parent_api.get(f"/v1/tenants/{parent['id']}/keys")).ok()["data"]) == 1
    assert (await admin.get(f"/v1/tenants/{child['id']}")).ok()["suspended"] is False


async def test_a_reseller_suspends_and_resumes_a_child(admin: Api, http: aiohttp.ClientSession) -> None:
    parent = await admin.tenant("parent")
    parent_api = admin.as_key(parent["api_key"])
    child = (await parent_api.post("/v1/tenants", {"name": "child"})).ok()
    child_api = admin.as_key(child["api_key"])
    child_ui = await logged_in(child_api, http)
    ui = await logged_in(parent_api, http)
    page = await ui.get("/ui/tenants")
    assert 'aria-label="Suspend child"' in page.text

    done = await ui.post(f"/ui/tenants/{child['id']}/suspend", {"csrf": page.csrf})
    assert done.status == 303 and done.location is not None and "done=suspended" in done.location
    assert (await child_api.get("/v1/endpoints")).status == 403
    shown = await ui.get("/ui/tenants?done=suspended")
    assert "Tenant suspended" in shown.text and 'aria-label="Resume child"' in shown.text
    refused = await child_ui.get("/ui/")
    assert refused.status == 403 and "Tenant suspended" in refused.text
    link = (await parent_api.post(f"/v1/tenants/{child['id']}/portal-links")).ok()
    opened = await DashboardClient(parent_api.base_url, http).get(link["url"].removeprefix(parent_api.base_url))
    assert opened.status == 410 and "suspended" in opened.text

    own = await ui.post(f"/ui/tenants/{parent['id']}/suspend", {"csrf": shown.csrf})
    assert own.status == 403 and (await parent_api.get("/v1/endpoints")).status == 200  # not its own

    assert (await ui.post(f"/ui/tenants/{child['id']}/resume", {"csrf": shown.csrf})).status == 303
    assert (await child_api.get("/v1/endpoints")).status == 200
    assert (await child_ui.get("/ui/")).status == 200


async def test_the_admin_suspends_a_top_level_tenant_and_has_no_keys_section(admin: Api,
                                                                            http: aiohttp.ClientSession) -> None:
    made = await admin.tenant("acme")
    ui = await logged_in(admin, http)
    page = await ui.get("/ui/tenants")
    assert ">API keys</h2>" not in page.text and 'aria-label="Suspend acme"' in page.text
    assert (await ui.post(f"/ui/tenants/{made['id']}/suspend", {"csrf": page.csrf})).status == 303
    assert (await admin.as_key(made["api_key"]).get("/v1/endpoints")).status == 403
    assert (await admin.get(f"/v1/tenants/{made['id']}")).ok()["suspended"] is True
