"""Embedding the dashboard in another site's iframe: the origins setting, the pages' frame-ancestors, and the
cookies' SameSite=None; Secure; Partitioned over HTTPS only where origins are set."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response

from verihook.config import Settings
from verihook.service.portal import Session
from verihook.web.render import Pages
from verihook.web.session import clear_session, set_login_csrf, set_session

PLATFORM = "https://platform.example"


def request(scheme: str, origins: tuple[str, ...]) -> Request:
    dashboard = Starlette()
    dashboard.state.frame_ancestors = origins
    return Request({"type": "http", "scheme": scheme, "method": "GET", "path": "/ui/", "root_path": "/ui",
                    "headers": [(b"host", b"portal.example")], "query_string": b"", "app": dashboard})


def all_cookies(scheme: str, origins: tuple[str, ...]) -> dict[str, str]:
    response = Response()
    req = request(scheme, origins)
    set_login_csrf(response, req, "login-token")
    set_session(response, req, Session("token", "csrf", 1000.0, False), now=400.0)
    clear_session(response, req)
    found = [v.decode() for k, v in response.raw_headers if k == b"set-cookie"]
    return {f"{cookie.split('=', 1)[0]}{index}": cookie for index, cookie in enumerate(found)}


def test_the_origins_setting_reads_a_space_or_comma_separated_list() -> None:
    env = {"VERIHOOK_PORTAL_FRAME_ANCESTORS": " https://platform.example, https://*.Partner.example:8443/ "
                                              "http://127.0.0.1:8000,https://platform.example"}
    assert Settings.from_env(env).portal_frame_ancestors == (
        PLATFORM, "https://*.partner.example:8443", "http://127.0.0.1:8000")
    assert Settings.from_env({}).portal_frame_ancestors == ()


@pytest.mark.parametrize("bad", ["platform.example", "https://platform.example/path", "javascript:alert(1)",
                                 "https://a.example; script-src *", "'self'", "*", "https://a.example'"])
def test_anything_but_an_origin_is_refused_by_name(bad: str) -> None:
    with pytest.raises(ValueError, match="VERIHOOK_PORTAL_FRAME_ANCESTORS"):
        Settings.from_env({"VERIHOOK_PORTAL_FRAME_ANCESTORS": f"{PLATFORM} {bad}"})


@pytest.mark.parametrize(("origins", "policy_end"), [
    ((), "object-src 'none'"),
    ((PLATFORM, "https://other.example"), "frame-ancestors 'self' https://platform.example https://other.example")])
def test_pages_name_the_frame_ancestors_only_when_set(origins: tuple[str, ...], policy_end: str) -> None:
    page = Pages().render(request("https", origins), "error.html", 404, title="Not found", detail="none")
    policy = page.headers["content-security-policy"]
    assert policy.endswith(policy_end) and policy.count("frame-ancestors") == (1 if origins else 0)
    assert "x-frame-options" not in page.headers


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_without_origins_the_cookies_stay_lax_and_strict(scheme: str) -> None:
    made = all_cookies(scheme, ())
    assert "SameSite=strict" in made["verihook_login_csrf0"] and "SameSite=lax" in made["verihook_session1"]
    assert not any("Partitioned" in cookie or "SameSite=none" in cookie for cookie in made.values())
    assert all(("Secure" in cookie) is (scheme == "https") for cookie in made.values())


def test_with_origins_over_https_every_cookie_is_cross_site_and_partitioned() -> None:
    made = all_cookies("https", (PLATFORM,))
    assert len(made) == 4  # login token set, session set, login token deleted, session deleted
    for cookie in made.values():
        attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
        assert attributes["samesite"] == "SameSite=none" and {"secure", "partitioned", "httponly"} <= set(attributes)
    assert "Max-Age=600" in made["verihook_session1"] and "Max-Age=0" in made["verihook_session3"]


def test_with_origins_over_http_the_cookies_cannot_be_cross_site_and_stay_lax() -> None:
    made = all_cookies("http", (PLATFORM,))
    assert "SameSite=lax" in made["verihook_session1"] and "SameSite=strict" in made["verihook_login_csrf0"]
    assert not any("Partitioned" in cookie or "Secure" in cookie for cookie in made.values())
