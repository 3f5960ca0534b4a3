"""The dashboard over plain HTTP: where it is mounted, its session cookie, CSRF on every form, the key's scope."""

from __future__ import annotations

import base64
from pathlib import Path

import aiohttp
import pytest

from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.receivers import Receiver
from tests.support.server import ADMIN_KEY, Running, ServeProcess


async def test_root_redirects_to_the_dashboard_and_the_dashboard_to_its_login(
        verihook: Running, http: aiohttp.ClientSession) -> None:
    ui = DashboardClient(verihook.base_url, http)
    root = await ui.get("/")
    assert (root.status, root.location) == (307, "/ui/")
    page = await ui.get("/ui/")
    assert (page.status, page.location) == (303, "/ui/login?next=/ui/")
    login = await ui.get("/ui/login")
    assert login.status == 200 and '<label for="api_key">API key</label>' in login.text
    for asset in ("/ui/static/style.css", "/ui/static/app.js"):
        assert (await ui.get(asset)).status == 200
    assert "http://" not in login.text.replace(verihook.base_url, "") and "https://" not in login.text
    openapi = (await Api(verihook.base_url, None, http).get("/openapi.json")).body
    assert not [path for path in openapi["paths"] if path.startswith("/ui") or path == "/"]


async def test_the_session_cookie_holds_no_key_and_is_httponly_samesite(api: Api, http: aiohttp.ClientSession
                                                                        ) -> None:
    ui = DashboardClient(api.base_url, http)
    logged_in = await ui.log_in(api.key or "")
    assert (logged_in.status, logged_in.location) == (303, "/ui/")
    [cookie] = [c for c in logged_in.set_cookies if c.startswith("verihook_session=")]
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite", "path", "max-age"} <= attributes and "secure" not in attributes
    assert "SameSite=lax" in cookie and "Path=/ui" in cookie
    value = ui.cookies["verihook_session"]
    payload = base64.urlsafe_b64decode(value.split(".")[0] + "==")
    assert (api.key or "").encode() not in payload and (api.key or "") not in value
    assert (await ui.get("/ui/endpoints")).status == 200


async def test_a_wrong_key_a_forged_cookie_and_a_missing_login_token_are_refused(
        api: Api, http: aiohttp.ClientSession) -> None:
    ui = DashboardClient(api.base_url, http)
    wrong = await ui.log_in("vh_not-a-key")
    assert wrong.status == 401 and "unknown API key" in wrong.text and "verihook_session" not in ui.cookies
    no_token = await DashboardClient(api.base_url, http).post("/ui/login", {"api_key": api.key or "", "csrf": "x"})
    assert no_token.status == 401 and "login form expired" in no_token.text
    await ui.log_in(api.key or "")
    _, signature = ui.cookies["verihook_session"].split(".")
    forged = base64.urlsafe_b64encode(b'{"k":"0000","c":"x","exp":9999999999}').rstrip(b"=").decode()
    ui.cookies["verihook_session"] = f"{forged}.{signature}"
    page = await ui.get("/ui/endpoints")
    assert page.status == 303 and page.location.startswith("/ui/login")


async def test_every_form_needs_the_sessions_csrf_token(api: Api, http: aiohttp.ClientSession) -> None:
    endpoint = await api.endpoint("http://127.0.0.1:9/hook")
    before = (await api.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()["signing_secret"]
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    detail = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    for path, form in ((f"/ui/endpoints/{endpoint['id']}/rotate", {}),
                       (f"/ui/endpoints/{endpoint['id']}/enabled", {"enabled": "false"}),
                       ("/ui/endpoints", {"url": "http://127.0.0.1:9/other", "auth_type": "none"}),
                       ("/ui/logout", {})):
        for token in (None, "wrong", detail.csrf + "x"):
            refused = await ui.post(path, {**form, **({"csrf": token} if token else {})})
            assert refused.status == 403, (path, token, refused.status)
            assert "CSRF" in refused.text
    after = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert after["enabled"] is True and len((await api.get("/v1/endpoints")).ok()["data"]) == 1
    assert (await api.get(f"/v1/endpoints/{endpoint['id']}/secrets")).ok()["signing_secret"] == before
    done = await ui.post(f"/ui/endpoints/{endpoint['id']}/enabled", {"csrf": detail.csrf, "enabled": "false"})
    assert done.status == 303 and (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()["enabled"] is False


async def test_the_dashboard_shows_exactly_what_the_key_may(admin: Api, http: aiohttp.ClientSession) -> None:
    reseller = await admin.as_new_tenant("reseller")
    child = await reseller.as_key((await reseller.tenant("child"))["api_key"]).endpoint("http://127.0.0.1:9/c")
    other = await (await admin.as_new_tenant("other")).endpoint("http://127.0.0.1:9/o")
    mine = await reseller.endpoint("http://127.0.0.1:9/r")
    ui = DashboardClient(admin.base_url, http)
    await ui.log_in(reseller.key or "")
    listing = await ui.get("/ui/endpoints")
    assert mine["id"] in listing.text and child["id"] in listing.text and other["id"] not in listing.text
    assert (await ui.get(f"/ui/endpoints/{other['id']}")).status == 404
    refused = await ui.post(f"/ui/endpoints/{other['id']}/rotate", {"csrf": listing.csrf})
    assert refused.status == 404
    admin_ui = DashboardClient(admin.base_url, http)
    await admin_ui.log_in(ADMIN_KEY)
    everything = await admin_ui.get("/ui/endpoints")
    assert all(e["id"] in everything.text for e in (mine, child, other))
    assert "Admin: every tenant" in everything.text


async def test_log_out_ends_the_session(api: Api, http: aiohttp.ClientSession) -> None:
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    page = await ui.get("/ui/")
    out = await ui.post("/ui/logout", {"csrf": page.csrf})
    assert (out.status, out.location) == (303, "/ui/login") and "verihook_session" not in ui.cookies
    assert (await ui.get("/ui/")).status == 303


async def test_unknown_pages_and_resources_answer_a_404_page(api: Api, http: aiohttp.ClientSession) -> None:
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    for path, said in (("/ui/nowhere", "There is no such page."), ("/ui/events/evt_missing", "event evt_missing"),
                       ("/ui/endpoints/ep_missing", "endpoint ep_missing"),
                       ("/ui/subjects/sub_missing", "subject sub_missing")):
        page = await ui.get(path)
        assert page.status == 404 and said in page.text and page.text.startswith("<!doctype html>"), path
    assert (await ui.request("DELETE", "/ui/endpoints")).status == 405


async def test_a_bad_filter_or_cursor_is_said_on_the_event_log(api: Api, http: aiohttp.ClientSession) -> None:
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    for query, said in (("status=bogus", "status must be one of"), ("cursor=not-a-cursor", "cursor")):
        page = await ui.get(f"/ui/events?{query}")
        assert page.status == 422 and 'role="alert"' in page.text and said in page.text, page.text[-600:]


@pytest.mark.parametrize("role", ["serve", "api"])
async def test_serve_and_api_processes_serve_the_dashboard(role: str, tmp_path: Path,
                                                           http: aiohttp.ClientSession) -> None:
    process = ServeProcess(f"sqlite:///{tmp_path / 'verihook.db'}", tmp_path, role=role)
    await process.start()
    try:
        ui = DashboardClient(process.base_url, http)
        assert (await ui.get("/")).location == "/ui/"
        logged_in = await ui.log_in(ADMIN_KEY)
        assert (logged_in.status, logged_in.location) == (303, "/ui/")
        assert "Admin: every tenant" in (await ui.get("/ui/endpoints")).text
    finally:
        process.stop()


async def test_the_event_pages_show_what_the_api_shows(api: Api, http: aiohttp.ClientSession,
                                                       receiver: Receiver) -> None:
    """The same views as the API's (GET /v1/events, /v1/events/{id}, /v1/endpoints, /v1/subjects/{id}): the
    rolled-up status, and a password in a URL redacted."""
    url = receiver.url.replace("http://", "http://hook-user:s3cret-pw@") + "/in"
    await api.endpoint(url)
    event = await api.publish("order.created", {"n": 1})
    await api.wait_event(event["id"])
    shown = (await api.get(f"/v1/events/{event['id']}")).ok()
    assert shown["deliveries"][0]["url"] == url.replace("s3cret-pw", "***")
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    detail = await ui.get(f"/ui/events/{event['id']}")
    assert detail.status == 200 and "s3cret-pw" not in detail.text
    assert shown["deliveries"][0]["url"] in detail.text and 'data-test="event-status">succeeded<' in detail.text
    log = await ui.get("/ui/events")
    assert event["id"] in log.text and '<span class="badge succeeded">succeeded</span>' in log.text
    endpoints = await ui.get("/ui/endpoints")
    assert shown["deliveries"][0]["url"] in endpoints.text and "s3cret-pw" not in endpoints.text
    subject = (await api.post("/v1/subjects", {"kind": "check", "webhook_url": url})).ok()
    page = await ui.get(f"/ui/subjects/{subject['id']}")
    assert subject["webhook_url"] in page.text and "s3cret-pw" not in page.text
