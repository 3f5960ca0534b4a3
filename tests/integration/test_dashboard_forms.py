"""The dashboard's forms over plain HTTP: New webhook with OAuth2 and custom headers, bad input shown on the form
(nothing stored), seed rules not changed by a tenant key, recovery of failed deliveries, the figures shown."""

from __future__ import annotations

import aiohttp
from multidict import MultiDict

from tests.support.api import Api
from tests.support.browserless import DashboardClient
from tests.support.receivers import Answer, Receiver


async def logged_in(api: Api, http: aiohttp.ClientSession) -> DashboardClient:
    ui = DashboardClient(api.base_url, http)
    await ui.log_in(api.key or "")
    return ui


async def test_new_webhook_with_oauth2_and_custom_headers(api: Api, http: aiohttp.ClientSession) -> None:
    ui = await logged_in(api, http)
    form = await ui.get("/ui/endpoints/new")
    for label in ("URL", "Profile", "Authentication", "Token", "Token URL", "Client ID", "Client secret",
                  "Custom headers", "async.completed", "onboarding.status_changed"):
        assert f">{label}</label>" in form.text or f">{label} <span" in form.text, label
    created = await ui.post("/ui/endpoints", {
        "csrf": form.csrf, "url": "https://127.0.0.1:9/incode", "profile": "incode",
        "event_types": "onboarding.status_changed", "auth_type": "oauth2", "token_url": "https://127.0.0.1:9/token",
        "client_id": "client-1", "client_secret": "s3cret", "scope": "webhooks",
        "headers": "X-Partner: acme\n\nX-Region: eu-west", "enabled": "on"})
    assert created.status == 303, created.text
    endpoint_id = created.location.rsplit("/", 1)[1].split("?")[0]
    endpoint = (await api.get(f"/v1/endpoints/{endpoint_id}")).ok()
    assert endpoint["profile"] == "incode" and endpoint["event_types"] == ["onboarding.status_changed"]
    assert endpoint["headers"] == {"X-Partner": "acme", "X-Region": "eu-west"} and endpoint["enabled"] is True
    secrets = (await api.get(f"/v1/endpoints/{endpoint_id}/secrets")).ok()
    assert secrets["auth"] == {"type": "oauth2", "token_url": "https://127.0.0.1:9/token", "client_id": "client-1",
                               "client_secret": "s3cret", "scope": "webhooks"}


async def test_bad_input_is_shown_on_the_form_and_nothing_is_stored(api: Api, http: aiohttp.ClientSession) -> None:
    ui = await logged_in(api, http)
    csrf = (await ui.get("/ui/endpoints/new")).csrf
    for form, said in (({"url": "ftp://example.com/x"}, "url"),
                       ({"url": "http://127.0.0.1:9/x", "headers": "no colon here"}, "Name: value"),
                       ({"url": "http://127.0.0.1:9/x", "headers": "Authorization: x"}, "set by Verihook"),
                       ({"url": "http://127.0.0.1:9/x", "auth_type": "oauth2", "token_url": ""}, "token url"),
                       ({"url": "http://127.0.0.1:9/x", "auth_type": "magic"}, "authentication must be"),
                       ({"url": "http://127.0.0.1:9/x", "profile": "attestr", "event_types": "order.created"},
                        "not one of profile attestr")):
        page = await ui.post("/ui/endpoints", {"csrf": csrf, "auth_type": "none", **form})
        assert page.status == 422 and 'role="alert"' in page.text and said in page.text, (form, page.text[:200])
        assert 'value="' + form["url"] + '"' in page.text  # what was typed is kept
    assert (await api.get("/v1/endpoints")).ok()["data"] == []


async def test_a_tenant_key_cannot_change_what_the_seed_fixes(admin: Api, http: aiohttp.ClientSession) -> None:
    tenant = await admin.tenant("attestr-customer", profile="attestr")
    api = admin.as_key(tenant["api_key"])
    endpoint = await api.endpoint("http://127.0.0.1:9/a")
    ui = await logged_in(api, http)
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    assert "fixed by the attestr profile" in page.text and 'name="timeout_s"' not in page.text
    assert 'name="success"' not in page.text and page.text.count("(fixed)") == 3
    saved = await ui.post(f"/ui/endpoints/{endpoint['id']}", {
        "csrf": page.csrf, "url": "http://127.0.0.1:9/b", "token": endpoint["auth"]["token"], "timeout_s": "60",
        "success": "2xx", "headers": ""})
    assert saved.status == 303
    after = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (after["url"], after["timeout_s"], after["success"], after["retry"]) == (
        "http://127.0.0.1:9/b", 5.0, "200", {"strategy": "none"})


async def test_recover_from_the_endpoint_page_and_its_figures(api: Api, http: aiohttp.ClientSession,
                                                              receiver: Receiver) -> None:
    receiver.script(Answer(200), Answer(503), Answer(503), Answer(200))
    endpoint = await api.endpoint(receiver.url, retry={"strategy": "none"})
    events = []
    for number in range(4):
        events.append(await api.publish("order.created", {"n": number}))
        await receiver.wait_for(number + 1)
    await api.wait_event(events[2]["id"], "failed")
    await api.wait_event(events[3]["id"], "succeeded")
    ui = await logged_in(api, http)
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    assert 'data-test="success-rate">50 %<' in page.text
    assert "2 deliveries succeeded, 2 failed, in 4 attempts" in " ".join(page.text.split())
    receiver.script(Answer(200))
    recovered = await ui.post(f"/ui/endpoints/{endpoint['id']}/recover", {"csrf": page.csrf, "window": "1h"})
    assert recovered.status == 200 and "2 failed deliveries queued again." in recovered.text
    for event in events:
        await api.wait_event(event["id"], "succeeded")
    after = await ui.get(f"/ui/endpoints/{endpoint['id']}?window=7d")
    assert 'data-test="success-rate">100 %<' in after.text  # the recovered deliveries' last attempts succeeded
    assert "4 deliveries succeeded, 0 failed, in 6 attempts" in " ".join(after.text.split())
    assert after.text.count('<svg class="chart"') == 3 and '<option value="7d" selected>' in after.text
    overview = await ui.get("/ui/")
    assert "6 delivery attempts, 4 deliveries succeeded, 0 failed" in " ".join(overview.text.split())
    assert overview.text.count('<svg class="chart"') == 3


async def test_subjects_and_their_history(api: Api, http: aiohttp.ClientSession) -> None:
    subject = (await api.post("/v1/subjects", {"kind": "verification", "status": "started"})).ok()
    await api.patch(f"/v1/subjects/{subject['id']}", {"status": "approved"})
    ui = await logged_in(api, http)
    listing = await ui.get("/ui/subjects?kind=verification")
    assert subject["id"] in listing.text
    assert subject["id"] not in (await ui.get("/ui/subjects?kind=other")).text
    detail = await ui.get(f"/ui/subjects/{subject['id']}")
    assert detail.text.index("<strong>started</strong>") < detail.text.index("<strong>approved</strong>")


async def test_incode_fixes_retry_and_success_but_not_the_timeout(admin: Api, http: aiohttp.ClientSession) -> None:
    tenant = await admin.tenant("incode-customer", profile="incode")
    api = admin.as_key(tenant["api_key"])
    endpoint = await api.endpoint("http://127.0.0.1:9/i")
    ui = await logged_in(api, http)
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    assert 'name="timeout_s"' in page.text and 'name="success"' not in page.text
    assert page.text.count("(fixed)") == 2
    saved = await ui.post(f"/ui/endpoints/{endpoint['id']}", {
        "csrf": page.csrf, "url": "http://127.0.0.1:9/i", "timeout_s": "9", "success": "2xx", "headers": ""})
    assert saved.status == 303
    after = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (after["timeout_s"], after["success"]) == (9.0, "200-json-or-204")


async def test_rate_limit_and_auto_disable_are_set_and_changed_on_the_forms(
        api: Api, http: aiohttp.ClientSession) -> None:
    ui = await logged_in(api, http)
    form = await ui.get("/ui/endpoints/new")
    for label in ("Rate limit, requests a second", "Disable the endpoint when every attempt fails",
                  "Failing for, seconds", "At least this many failed attempts"):
        assert f">{label}</label>" in form.text or f">{label} <span" in form.text, label
    default = await ui.post("/ui/endpoints", {"csrf": form.csrf, "url": "http://127.0.0.1:9/default",
                                              "auth_type": "none", "rate_limit_per_s": "",
                                              "auto_disable": "default"})
    assert default.status == 303, default.text
    made = await ui.post("/ui/endpoints", {
        "csrf": form.csrf, "url": "http://127.0.0.1:9/limited", "auth_type": "none", "rate_limit_per_s": "2.5",
        "auto_disable": "on", "auto_disable_failing_for_s": "3600", "auto_disable_min_failures": "4"})
    assert made.status == 303, made.text
    by_url = {e["url"]: e for e in (await api.get("/v1/endpoints")).ok()["data"]}
    assert (by_url["http://127.0.0.1:9/default"]["rate_limit_per_s"],
            by_url["http://127.0.0.1:9/default"]["auto_disable"]) == (None, {"failing_for_s": 432000,
                                                                             "min_failures": 10})
    limited = by_url["http://127.0.0.1:9/limited"]
    assert (limited["rate_limit_per_s"], limited["auto_disable"]) == (2.5, {"failing_for_s": 3600, "min_failures": 4})

    page = await ui.get(f"/ui/endpoints/{limited['id']}")
    assert "Rate limit: 2.5 requests a second" in page.text
    assert 'id="rate_limit_per_s" name="rate_limit_per_s" inputmode="decimal" value="2.5"' in page.text
    assert 'name="auto_disable_failing_for_s" inputmode="numeric" value="3600"' in page.text
    base = {"csrf": page.csrf, "url": limited["url"], "headers": "", "auto_disable_failing_for_s": "3600",
            "auto_disable_min_failures": "4"}
    saved = await ui.post(f"/ui/endpoints/{limited['id']}", {**base, "rate_limit_per_s": "", "auto_disable": "off"})
    assert saved.status == 303, saved.text
    after = (await api.get(f"/v1/endpoints/{limited['id']}")).ok()
    assert (after["rate_limit_per_s"], after["auto_disable"]) == (None, None)
    assert "auto-disable: never" in (await ui.get(f"/ui/endpoints/{limited['id']}")).text


async def test_bad_rate_limits_and_auto_disable_settings_are_shown_on_the_forms(
        api: Api, http: aiohttp.ClientSession) -> None:
    ui = await logged_in(api, http)
    csrf = (await ui.get("/ui/endpoints/new")).csrf
    on = {"auto_disable": "on", "auto_disable_failing_for_s": "600", "auto_disable_min_failures": "3"}
    cases = (({"rate_limit_per_s": "fast"}, "rate_limit_per_s", "the rate limit must be a number"),
             ({"rate_limit_per_s": "0"}, "rate_limit_per_s", "rate_limit_per_s must be a number over 0"),
             ({"rate_limit_per_s": "20000"}, "rate_limit_per_s", "at most 10000"),
             ({**on, "auto_disable_failing_for_s": ""}, "auto_disable_failing_for_s", "must be a number"),
             ({**on, "auto_disable_failing_for_s": "1.5"}, "auto_disable_failing_for_s", "a whole number"),
             ({**on, "auto_disable_min_failures": "0"}, "auto_disable_min_failures", "from 1 to 1000000"),
             ({"auto_disable": "sometimes"}, "auto_disable", "on, off or the profile"))
    for fields, input_id, said in cases:
        page = await ui.post("/ui/endpoints", {"csrf": csrf, "url": "http://127.0.0.1:9/x", "auth_type": "none",
                                               **fields})
        assert page.status == 422 and 'role="alert"' in page.text and said in page.text, (fields, page.text[:300])
        assert f'id="{input_id}"' in _invalid_inputs(page.text), (fields, _invalid_inputs(page.text))
    assert (await api.get("/v1/endpoints")).ok()["data"] == []

    endpoint = await api.endpoint("http://127.0.0.1:9/kept", rate_limit_per_s=5)
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    refused = await ui.post(f"/ui/endpoints/{endpoint['id']}", {
        "csrf": page.csrf, "url": endpoint["url"], "headers": "", "rate_limit_per_s": "-1", "auto_disable": "off"})
    assert refused.status == 422 and "rate_limit_per_s must be a number over 0" in refused.text
    assert 'id="rate_limit_per_s"' in _invalid_inputs(refused.text)
    after = (await api.get(f"/v1/endpoints/{endpoint['id']}")).ok()
    assert (after["rate_limit_per_s"], after["auto_disable"]) == (5.0, endpoint["auto_disable"])


def _invalid_inputs(html: str) -> str:
    """The tags marked aria-invalid, joined."""
    return " ".join(tag for tag in html.split("<") if 'aria-invalid="true"' in tag)


async def test_an_endpoint_of_any_profile_subscribes_to_the_operational_types(
        api: Api, http: aiohttp.ClientSession) -> None:
    ui = await logged_in(api, http)
    form = await ui.get("/ui/endpoints/new")
    for profile in ("standard", "credas"):
        assert f'id="et-{profile}-verihook.delivery.exhausted"' in form.text
    ticked = MultiDict([("csrf", form.csrf), ("url", "http://127.0.0.1:9/credas"), ("profile", "credas"),
                        ("auth_type", "none"), ("event_types", "process_actor.updated"),
                        ("event_types", "verihook.delivery.exhausted")])
    made = await ui.post("/ui/endpoints", ticked)  # type: ignore[arg-type]
    assert made.status == 303, made.text
    [endpoint] = (await api.get("/v1/endpoints")).ok()["data"]
    assert endpoint["event_types"] == ["process_actor.updated", "verihook.delivery.exhausted"]
    page = await ui.get(f"/ui/endpoints/{endpoint['id']}")
    assert 'value="verihook.delivery.exhausted" checked' in page.text
    assert 'value="verihook.endpoint.disabled">' in page.text  # offered, not ticked
