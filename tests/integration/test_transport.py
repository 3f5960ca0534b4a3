"""Both transports against real HTTP(S) servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import socket
import ssl
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDict

from tests.tlsutil import TlsFiles, make_tls
from verihook.config import Settings
from verihook.delivery.guard import GuardedResolver, IPAddress
from verihook.delivery.transport import (
    MAX_RESPONSE_BYTES,
    AiohttpTransport,
    OutboundRequest,
    PyreqwestTransport,
    Transport,
    create_transport,
)
from verihook.model import AttemptError

TRANSPORTS = {"pyreqwest": PyreqwestTransport, "aiohttp": AiohttpTransport}


@dataclass
class Seen:
    method: str
    path: str
    headers: CIMultiDict[str]  # case-insensitive
    body: bytes
    peer: tuple[str, int]


@dataclass
class Receiver:
    port: int
    seen: list[Seen] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


def _app(receiver: Receiver) -> web.Application:
    async def record(request: web.Request) -> None:
        peer = request.transport.get_extra_info("peername") if request.transport else ("?", 0)
        receiver.seen.append(
            Seen(
                request.method,
                request.path,
                CIMultiDict(request.headers),
                await request.read(),
                tuple(peer[:2]),
            )
        )

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b'{"ok": true}', content_type="application/json", headers={"X-Reply": "yes"})

    async def big(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(body=b"x" * (MAX_RESPONSE_BYTES * 3 + 17))

    async def redirect(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=302, headers={"Location": "/ok"}, text="moved")

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def slow_body(request: web.Request) -> web.StreamResponse:
        await record(request)
        response = web.StreamResponse()
        response.content_length = 10
        await response.prepare(request)
        await response.write(b"12345")
        await asyncio.sleep(5)
        await response.write(b"67890")
        return response

    async def repeated(request: web.Request) -> web.Response:
        await record(request)
        headers = CIMultiDict([("X-Many", "a"), ("X-Many", "b"), ("X-One", "1")])
        return web.Response(status=204, headers=headers)

    async def teapot(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=418, text="short and stout")

    app = web.Application()
    app.router.add_route("*", "/ok", ok)
    app.router.add_route("*", "/big", big)
    app.router.add_route("*", "/redirect", redirect)
    app.router.add_route("*", "/slow", slow)
    app.router.add_route("*", "/teapot", teapot)
    app.router.add_route("*", "/repeated", repeated)
    app.router.add_route("*", "/slow-body", slow_body)
    return app


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[Receiver, web.AppRunner]:
    receiver = Receiver(port=0)
    runner = web.AppRunner(_app(receiver), shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    receiver.port = runner.addresses[0][1]
    return receiver, runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver, runner = await _serve()
    yield receiver
    await runner.cleanup()


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls(tmp_path)


@pytest.fixture
async def tls_receiver(tls: TlsFiles) -> AsyncIterator[Receiver]:
    receiver, runner = await _serve(tls.server_context())
    yield receiver
    await runner.cleanup()


MakeTransport = Callable[..., Transport]


@pytest.fixture(params=sorted(TRANSPORTS))
async def make(request: pytest.FixtureRequest) -> AsyncIterator[MakeTransport]:
    made: list[Transport] = []

    def factory(**kwargs: object) -> Transport:
        kwargs.setdefault("allow_private_targets", True)
        transport: Transport = TRANSPORTS[request.param](**kwargs)
        made.append(transport)
        return transport

    yield factory
    for transport in made:
        await transport.aclose()


def post(url: str, timeout_s: float = 5.0, body: bytes = b'{"type":"ping"}') -> OutboundRequest:
    return OutboundRequest(
        url=url, headers=[("Content-Type", "application/json"), ("webhook-id", "msg_1")], body=body,
        timeout_s=timeout_s,
    )  # fmt: skip


async def test_200_with_body(make: MakeTransport, receiver: Receiver) -> None:
    outcome = await make().send(post(receiver.url("/ok")))
    assert outcome.error is None and outcome.error_detail is None
    assert outcome.status_code == 200
    assert outcome.body == b'{"ok": true}'
    assert outcome.headers["x-reply"] == "yes"
    assert outcome.headers["content-type"].startswith("application/json")
    assert all(name == name.lower() for name in outcome.headers)
    assert 0 < outcome.latency_ms < 5000
    [seen] = receiver.seen
    assert (seen.method, seen.path, seen.body) == ("POST", "/ok", b'{"type":"ping"}')
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["webhook-id"] == "msg_1"
    assert seen.headers["User-Agent"] == "Verihook/0.1"


async def test_other_method_and_error_status(make: MakeTransport, receiver: Receiver) -> None:
    request = post(receiver.url("/teapot"))
    request.method = "PUT"
    outcome = await make().send(request)
    assert (outcome.status_code, outcome.body, outcome.error) == (418, b"short and stout", None)
    assert receiver.seen[0].method == "PUT"


async def test_repeated_response_headers_are_joined(make: MakeTransport, receiver: Receiver) -> None:
    outcome = await make().send(post(receiver.url("/repeated")))
    assert (outcome.status_code, outcome.body) == (204, b"")
    assert outcome.headers["x-many"] == "a, b"
    assert outcome.headers["x-one"] == "1"


async def test_body_larger_than_cap_is_cut(make: MakeTransport, receiver: Receiver) -> None:
    transport = make()
    outcome = await transport.send(post(receiver.url("/big")))
    assert outcome.status_code == 200 and outcome.error is None
    assert outcome.body == b"x" * MAX_RESPONSE_BYTES
    again = await transport.send(post(receiver.url("/ok")))  # the transport is still usable
    assert again.status_code == 200


async def test_redirect_is_not_followed(make: MakeTransport, receiver: Receiver) -> None:
    outcome = await make().send(post(receiver.url("/redirect")))
    assert outcome.status_code == 302
    assert outcome.headers["location"] == "/ok"
    assert outcome.body == b"moved"
    assert [seen.path for seen in receiver.seen] == ["/redirect"]


async def test_keep_alive_reuses_the_connection(make: MakeTransport, receiver: Receiver) -> None:
    transport = make()
    for _ in range(3):
        assert (await transport.send(post(receiver.url("/ok")))).status_code == 200
    assert len({seen.peer for seen in receiver.seen}) == 1


async def test_timeout_covers_the_whole_exchange(make: MakeTransport, receiver: Receiver) -> None:
    started = time.perf_counter()
    outcome = await make().send(post(receiver.url("/slow"), timeout_s=0.5))
    elapsed = time.perf_counter() - started
    assert outcome.status_code is None
    assert outcome.error is AttemptError.TIMEOUT
    assert outcome.error_detail == "no answer within 0.5 s"
    assert 0.45 <= elapsed < 1.0
    assert 450 <= outcome.latency_ms < 1000


async def test_timeout_covers_a_slow_body(make: MakeTransport, receiver: Receiver) -> None:
    started = time.perf_counter()
    outcome = await make().send(post(receiver.url("/slow-body"), timeout_s=0.5))
    assert outcome.error is AttemptError.TIMEOUT
    assert time.perf_counter() - started < 1.0


async def test_closed_port_is_connect_error(make: MakeTransport) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    outcome = await make().send(post(f"http://127.0.0.1:{port}/hook"))
    assert outcome.status_code is None
    assert outcome.error is AttemptError.CONNECT
    assert outcome.error_detail


async def test_connection_closed_without_answer_is_connect_error(make: MakeTransport) -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)
        writer.transport.abort()  # a reset, with no answer

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        outcome = await make().send(post(f"http://127.0.0.1:{port}/hook"))
    finally:
        server.close()
        await server.wait_closed()
    assert outcome.status_code is None
    assert outcome.error is AttemptError.CONNECT
    assert outcome.error_detail


async def test_server_closing_an_idle_connection_does_not_fail_the_next_request(make: MakeTransport) -> None:
    receiver = Receiver(port=0)
    runner = web.AppRunner(_app(receiver), keepalive_timeout=0.2, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.port = runner.addresses[0][1]
    try:
        transport = make()
        assert (await transport.send(post(receiver.url("/ok")))).status_code == 200
        await asyncio.sleep(0.5)  # the server has closed the kept-alive connection meanwhile
        outcome = await transport.send(post(receiver.url("/ok")))
        assert (outcome.status_code, outcome.error) == (200, None)
    finally:
        await runner.cleanup()


async def test_unresolvable_name_is_dns_error_through_the_guards_resolver(make: MakeTransport) -> None:
    resolver = GuardedResolver(lookup=_fake_dns({}), is_refused=_only_loopback_v4_allowed)
    outcome = await make(allow_private_targets=False, resolver=resolver).send(post("http://hooks.test/"))
    assert (outcome.status_code, outcome.error) == (None, AttemptError.DNS)
    assert outcome.error_detail


# With the guard off the transport's own client resolves names; it runs in a network namespace of its own (`unshare
# -rn`: no interface but loopback), so the name is never asked of the machine's resolver.
_UNGUARDED_DNS = """
import asyncio, os, sys
from verihook.delivery.transport import AiohttpTransport, OutboundRequest, PyreqwestTransport

async def main() -> None:
    kind = {"pyreqwest": PyreqwestTransport, "aiohttp": AiohttpTransport}[sys.argv[1]]
    transport = kind(allow_private_targets=True)
    outcome = await transport.send(OutboundRequest(url="http://hooks.test/", headers=[], body=b"{}", timeout_s=5.0))
    await transport.aclose()
    print(outcome.status_code, outcome.error.value if outcome.error else None, bool(outcome.error_detail))

asyncio.run(main())
sys.stdout.flush()
os._exit(0)  # pyreqwest's runtime may abort in the interpreter's finalisation, after the figure is out
"""


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare (util-linux) for a network namespace")
@pytest.mark.parametrize("kind", sorted(TRANSPORTS))
async def test_unresolvable_name_is_dns_error_with_the_guard_off(kind: str) -> None:
    run = await asyncio.create_subprocess_exec("unshare", "-rn", sys.executable, "-c", _UNGUARDED_DNS, kind,
                                               stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(run.communicate(), 30)
    assert run.returncode == 0, err.decode()
    assert out.decode().split() == ["None", AttemptError.DNS.value, "True"]


async def test_a_bad_url_is_an_outcome_not_an_exception(make: MakeTransport) -> None:
    for url in ("ftp://example.com/", "not a url", "http://"):
        outcome = await make().send(post(url))
        assert (outcome.status_code, outcome.error) == (None, AttemptError.OTHER), url


async def test_https_with_ca_file(make: MakeTransport, tls: TlsFiles, tls_receiver: Receiver) -> None:
    transport = make(ca_file=str(tls.ca_file))
    outcome = await transport.send(post(tls_receiver.url("/ok", scheme="https")))
    assert (outcome.status_code, outcome.error) == (200, None)
    outcome = await transport.send(post(tls_receiver.url("/ok", host="localhost", scheme="https")))
    assert (outcome.status_code, outcome.error) == (200, None)


async def test_https_ca_file_with_several_certificates(
    make: MakeTransport, tls: TlsFiles, tls_receiver: Receiver, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other = make_tls(tmp_path / "other")  # a second CA, listed first in the bundle
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(other.ca_file.read_bytes() + b"\n" + tls.ca_file.read_bytes())
    outcome = await make(ca_file=str(bundle)).send(post(tls_receiver.url("/ok", scheme="https")))
    assert (outcome.status_code, outcome.error) == (200, None)


async def test_https_without_ca_file_is_tls_error(make: MakeTransport, tls_receiver: Receiver) -> None:
    outcome = await make().send(post(tls_receiver.url("/ok", scheme="https")))
    assert outcome.status_code is None
    assert outcome.error is AttemptError.TLS
    assert outcome.error_detail
    assert tls_receiver.seen == []


async def test_https_to_plain_http_server_is_tls_error(make: MakeTransport, receiver: Receiver) -> None:
    outcome = await make().send(post(receiver.url("/ok", scheme="https")))
    assert outcome.error is AttemptError.TLS


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "2130706433", "127.1"])
async def test_guard_refuses_loopback(make: MakeTransport, receiver: Receiver, host: str) -> None:
    outcome = await make(allow_private_targets=False).send(post(receiver.url("/ok", host=host)))
    assert outcome.status_code is None
    assert outcome.error is AttemptError.REFUSED_BY_POLICY
    assert outcome.error_detail is not None
    assert outcome.error_detail.startswith("target refused by policy: ")
    if host == "localhost":  # a name: refused by name, without telling which private address it resolves to
        assert outcome.error_detail.split(": ", 1)[1].startswith("localhost resolves only to"), outcome.error_detail
        assert "127.0.0.1" not in outcome.error_detail and "::1" not in outcome.error_detail
    else:
        assert outcome.error_detail.split(": ", 1)[1] in ("127.0.0.1", "::1")
    await asyncio.sleep(0.05)
    assert receiver.seen == []


def _only_loopback_v4_allowed(ip: IPAddress) -> bool:
    return ip != ipaddress.ip_address("127.0.0.1")


def _fake_dns(answers: dict[str, list[str]]) -> Callable[[str], Awaitable[list[str]]]:
    async def lookup(host: str) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    return lookup


async def test_guard_connects_only_to_an_allowed_address(make: MakeTransport, receiver: Receiver) -> None:
    # A policy that allows 127.0.0.1 (and nothing else local) stands in for a public address; the DNS answer
    # mixes it with refused addresses: only the allowed one is connected to, and the name is kept in Host.
    answers = {"hooks.test": ["169.254.169.254", "127.0.0.1", "10.0.0.1"], "evil.test": ["127.0.0.2", "::1"]}
    resolver = GuardedResolver(ttl_s=0, lookup=_fake_dns(answers), is_refused=_only_loopback_v4_allowed)
    transport = make(allow_private_targets=False, resolver=resolver)
    for _ in range(2):
        outcome = await transport.send(post(receiver.url("/ok", host="hooks.test")))
        assert (outcome.status_code, outcome.error) == (200, None)
    assert receiver.seen[-1].headers["Host"] == f"hooks.test:{receiver.port}"
    outcome = await transport.send(post(receiver.url("/ok", host="evil.test")))
    assert outcome.error is AttemptError.REFUSED_BY_POLICY
    assert outcome.error_detail.startswith("target refused by policy: evil.test")  # the name, never its address
    assert "127.0.0.2" not in outcome.error_detail and "::1" not in outcome.error_detail
    answers["hooks.test"] = ["169.254.169.254"]  # the name is rebound to a refused address
    outcome = await transport.send(post(receiver.url("/ok", host="hooks.test")))
    assert outcome.error is AttemptError.REFUSED_BY_POLICY
    assert len(receiver.seen) == 2


@pytest.mark.parametrize("host", ["hooks.test.", "HOOKS.Test", "bücher.test"])
async def test_guard_pins_names_in_any_spelling(make: MakeTransport, receiver: Receiver, host: str) -> None:
    # The pin must match the host exactly as the client sees it, or the client would resolve it by itself.
    answers = {"hooks.test.": ["127.0.0.1"], "hooks.test": ["127.0.0.1"], "xn--bcher-kva.test": ["127.0.0.1"]}
    resolver = GuardedResolver(lookup=_fake_dns(answers), is_refused=_only_loopback_v4_allowed)
    outcome = await make(allow_private_targets=False, resolver=resolver).send(post(receiver.url("/ok", host=host)))
    assert (outcome.status_code, outcome.error) == (200, None)


async def test_guard_pins_https_names_with_sni(make: MakeTransport, tls: TlsFiles, tls_receiver: Receiver) -> None:
    resolver = GuardedResolver(lookup=_fake_dns({"localhost": ["127.0.0.1"]}), is_refused=_only_loopback_v4_allowed)
    transport = make(allow_private_targets=False, ca_file=str(tls.ca_file), resolver=resolver)
    outcome = await transport.send(post(tls_receiver.url("/ok", host="localhost", scheme="https")))
    assert (outcome.status_code, outcome.error) == (200, None)


async def test_refused_ip_literal_is_refused_even_with_a_lenient_resolver(
    make: MakeTransport, receiver: Receiver
) -> None:
    resolver = GuardedResolver(lookup=_fake_dns({}), is_refused=_only_loopback_v4_allowed)
    outcome = await make(allow_private_targets=False, resolver=resolver).send(post(receiver.url("/ok")))
    assert outcome.error is AttemptError.REFUSED_BY_POLICY


async def test_concurrent_sends(make: MakeTransport, receiver: Receiver) -> None:
    transport = make()
    outcomes = await asyncio.gather(*(transport.send(post(receiver.url("/ok"))) for _ in range(50)))
    assert [outcome.status_code for outcome in outcomes] == [200] * 50
    assert len(receiver.seen) == 50


@pytest.mark.parametrize(("env", "kind"), [(None, PyreqwestTransport), ("aiohttp", AiohttpTransport),
                                           (" AIOHTTP ", AiohttpTransport)])
async def test_the_transport_is_chosen_by_environment(env: str | None, kind: type) -> None:
    settings = Settings.from_env({} if env is None else {"VERIHOOK_TRANSPORT": env})
    transport = create_transport(settings.transport, allow_private_targets=True, ca_file=None)
    try:
        assert isinstance(transport, kind)
    finally:
        await transport.aclose()


def test_an_unknown_transport_is_refused_naming_the_variable() -> None:
    with pytest.raises(ValueError, match="VERIHOOK_TRANSPORT"):
        Settings.from_env({"VERIHOOK_TRANSPORT": "curl"})
    with pytest.raises(ValueError, match="transport"):
        create_transport("curl", allow_private_targets=True, ca_file=None)


def test_a_ca_file_without_certificates_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ValueError, match="no PEM certificate"):
        PyreqwestTransport(allow_private_targets=True, ca_file=str(bad))
