"""A destination URL goes on the wire exactly as given, on every transport, or is refused when it is given."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.raw_server import RawServer
from tests.support.server import TRANSPORT_CASES
from verihook.delivery.transport import AiohttpTransport, OutboundRequest, PyreqwestTransport

SENT_AS_GIVEN = [
    "/a%2Fb/%7Euser?q=a+b&x=%2F&y=%7E",
    "/-._~!$&'()*+,;=:@/%2F%7E%41%c3%a9%2e%25",
    "/x?-._~!$&()*+,;=:@/?%2F%7E%41%c3%a9%2e%25%20+",
    "/updates?our-reference=1232323",
    "/a/.b/..c/...",
    "/a/..%2f?%27quoted%27",
    "/??",
    "/p?a=1&a=2&&b=",
]
REFUSED = [
    ("/a b", "' '", "%20"),
    ("/caf\u00e9", "'\u00e9'", "%C3%A9"),
    ('/x?"q"', "'\"'", "%22"),
    ("/<x>", "'<'", "%3C"),
    ("/a|b", "'|'", "%7C"),
    ("/a\\b", "'\\\\'", "%5C"),
    ("/a{b}", "'{'", "%7B"),
    ("/a`b", "'`'", "%60"),
    ("/a^b", "'^'", "%5E"),
    ("/tab\there", "U+0009", "%09"),
    ("/x?y='q'", "\"'\"", "%27"),
    ("/%zz", "'%'", "%25"),
    ("/50%", "'%'", "%25"),
    ("/a#frag", "fragment", "%23"),
    ("/[x]", "'['", "%5B"),
    ("/x?a[0]=1", "'['", "%5B"),
    ("/a?", "empty query", ""),
    ("/a/./b", "dot segment", ""),
    ("/a/../b", "dot segment", ""),
    ("/a/%2E%2e/b", "dot segment", ""),
    ("/x/.?a", "dot segment", ""),
]


@pytest.mark.parametrize("transport_class", [PyreqwestTransport, AiohttpTransport])
async def test_each_transport_sends_an_accepted_url_byte_for_byte(transport_class: type) -> None:
    raw = await RawServer().start()
    sender = transport_class(allow_private_targets=True)
    try:
        for index, path in enumerate(SENT_AS_GIVEN):
            outcome = await sender.send(OutboundRequest(url=raw.url + path, headers=[], body=b"{}", timeout_s=5))
            assert outcome.status_code == 200, outcome
            assert raw.requests[index].target == path.encode(), path
    finally:
        await sender.aclose()
        await raw.stop()


@pytest.mark.parametrize("transport_class", [PyreqwestTransport, AiohttpTransport])
async def test_a_url_stored_before_the_check_is_not_sent_re_encoded(transport_class: type) -> None:
    raw = await RawServer().start()
    sender = transport_class(allow_private_targets=True)
    try:
        outcome = await sender.send(OutboundRequest(url=raw.url + "/a b", headers=[], body=b"{}", timeout_s=5))
        assert outcome.status_code is None and "%20" in (outcome.error_detail or "")
        assert raw.requests == []
    finally:
        await sender.aclose()
        await raw.stop()


@pytest.mark.parametrize(("database_url", "transport"), TRANSPORT_CASES, indirect=True)
async def test_endpoint_and_subject_urls_are_delivered_as_given(api: Api, transport: str) -> None:
    raw = await RawServer().start()
    try:
        path = "/hooks/%7Eacme/a%2Fb?ref=a+b&sig=%2F%3D&empty="
        await api.endpoint(raw.url + path)
        subject = (await api.post("/v1/subjects", {"kind": "process", "webhook_url": raw.url + "/own%2Furl?x=%7E"}
                                  )).ok()
        event = await api.publish("order.created", {"n": 1}, subject_id=subject["id"])
        await api.wait_event(event["id"])
        assert sorted(r.target for r in raw.requests) == sorted([path.encode(), b"/own%2Furl?x=%7E"])
    finally:
        await raw.stop()


@pytest.mark.parametrize(("database_url", "transport"), [("sqlite", "pyreqwest")], indirect=True)
@pytest.mark.parametrize(("path", "named", "escape"), REFUSED)
async def test_a_url_that_cannot_be_sent_unchanged_is_refused_when_given(
    admin: Api, path: str, named: str, escape: str
) -> None:
    api = await admin.as_new_tenant()
    url = "http://127.0.0.1:9" + path
    reply = await api.post("/v1/endpoints", {"url": url})
    assert reply.status == 422 and reply.body["field"] == "url", reply.body
    assert named in reply.body["detail"] and escape in reply.body["detail"], reply.body["detail"]
    made = await api.endpoint("http://127.0.0.1:9/ok")
    reply = await api.patch(f"/v1/endpoints/{made['id']}", {"url": url})
    assert reply.status == 422 and reply.body["field"] == "url"
    reply = await api.post("/v1/subjects", {"kind": "process", "webhook_url": url})
    assert reply.status == 422 and reply.body["field"] == "webhook_url", reply.body
    assert escape in reply.body["detail"]


@pytest.mark.parametrize(("database_url", "transport"), [("sqlite", "pyreqwest")], indirect=True)
async def test_a_non_ascii_host_is_refused_with_its_idna_form_suggested(api: Api) -> None:
    reply = await api.post("/v1/endpoints", {"url": "https://b\u00fccher.example/hook"})
    assert reply.status == 422 and reply.body["field"] == "url"
    assert "host" in reply.body["detail"] and "punycode" in reply.body["detail"]
    assert (await api.post("/v1/endpoints", {"url": "https://xn--bcher-kva.example/hook"})).status == 201
