"""The session cookie's attributes: Secure exactly when the request came over HTTPS; the path is the mount's."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.responses import Response

from verihook.service.portal import Session
from verihook.web.session import set_session


def request(scheme: str, root_path: str) -> Request:
    return Request({"type": "http", "scheme": scheme, "method": "GET", "path": root_path + "/login",
                    "root_path": root_path, "headers": [(b"host", b"portal.example")], "query_string": b""})


@pytest.mark.parametrize(("scheme", "root_path", "secure"), [
    ("https", "/ui", True), ("http", "/ui", False), ("https", "/prefix/ui", True)])
def test_the_session_cookie(scheme: str, root_path: str, secure: bool) -> None:
    response = Response()
    set_session(response, request(scheme, root_path), Session("token", "csrf", 1000.0, False), now=400.0)
    [cookie] = [v.decode() for k, v in response.raw_headers if k == b"set-cookie" and b"verihook_session" in v]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and f"Path={root_path}" in cookie
    assert "Max-Age=600" in cookie
    assert ("Secure" in cookie) is secure
