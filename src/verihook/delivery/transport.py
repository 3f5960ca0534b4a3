"""Outbound HTTP: the one seam (`send(request) -> Outcome`) every webhook and token request goes through.

Rules kept by every transport: redirects are never followed (a 3xx is an answer); the request's timeout covers
the whole exchange (DNS, connect, send, answer); response bodies are read up to MAX_RESPONSE_BYTES and the
rest is discarded (the connection is then dropped, not drained); `send` never raises for a network problem, it
answers an Outcome whose `error` says what went wrong; connections are kept alive and pooled; with private
targets refused the target guard (guard.py) decides which addresses may be connected to.

PyreqwestTransport (default) and AiohttpTransport (baseline and fallback, VERIHOOK_TRANSPORT=aiohttp).

Pinning with pyreqwest: the client resolves names itself, so the guard resolves first and then connects
through a client built with `resolve(host, ip, port)` for the one allowed address it chose. Such a client
serves one (host, port): it is also that host's connection pool, and it keeps its address while the address
stays among the allowed answers, so a round-robin or rebinding DNS answer changes nothing for open or new
connections. Building a client costs about 4.5 ms of CPU and 140 KB (pyreqwest loads the system roots per
client), so clients are cached, at most MAX_PINNED_CLIENTS, oldest dropped first (a dropped client finishes
its in-flight requests). IP literals and unguarded transports use one shared client.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import lru_cache
from typing import Protocol, cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from pyreqwest import exceptions as rq
from pyreqwest.client import Client, ClientBuilder
from pyreqwest.http import HeaderMap
from yarl import URL

from verihook.delivery.client_url import client_target
from verihook.delivery.exact_url import unsendable
from verihook.delivery.guard import (
    NOTHING_ALLOWED,
    AllowedTargets,
    GuardedResolver,
    TargetAddress,
    TargetRefused,
)
from verihook.model import AttemptError

MAX_RESPONSE_BYTES = 64 * 1024  # response bodies are read up to this cap, the rest discarded
MAX_PINNED_CLIENTS = 512  # pyreqwest clients pinned to one (host, port, ip) kept at once
DEFAULT_USER_AGENT = "Verihook/0.1"

_TIMEOUTS_KEPT = 64  # distinct timeout values whose client-side objects are kept
_SPENT_S = 0.001  # time spent before the request below which the timeout is not shortened
_DNS_MARKERS = ("dns error", "failed to lookup address", "name or service not known")
_TLS_MARKERS = ("certificate", "tls", "handshake", "corrupt message", "alert")


@dataclass(slots=True)
class OutboundRequest:
    url: str
    headers: list[tuple[str, str]]
    body: bytes
    timeout_s: float
    method: str = "POST"


@dataclass(slots=True)
class Outcome:
    status_code: int | None  # None when there was no HTTP answer
    headers: dict[str, str] = field(default_factory=dict)  # response headers, lower-case names
    body: bytes = b""  # at most MAX_RESPONSE_BYTES
    latency_ms: float = 0.0
    error: AttemptError | None = None
    error_detail: str | None = None  # short human text


class Transport(Protocol):
    async def send(self, request: OutboundRequest) -> Outcome: ...

    async def aclose(self) -> None: ...


def create_transport(kind: str = "pyreqwest", *, allow_private_targets: bool, ca_file: str | None,
                     allowed_targets: AllowedTargets = NOTHING_ALLOWED) -> Transport:
    """The transport named by Settings.transport: pyreqwest (the default) or aiohttp; `allowed_targets` pass the
    guard although it refuses them (VERIHOOK_ALLOWED_TARGETS)."""
    resolver = GuardedResolver(allowed=allowed_targets)
    if kind == "pyreqwest":
        return PyreqwestTransport(allow_private_targets=allow_private_targets, ca_file=ca_file, resolver=resolver)
    if kind == "aiohttp":
        return AiohttpTransport(allow_private_targets=allow_private_targets, ca_file=ca_file, resolver=resolver)
    raise ValueError(f"the transport must be 'pyreqwest' or 'aiohttp', not {kind!r}")


def load_ca_file(ca_file: str) -> list[bytes]:
    """The certificates of a PEM file, one PEM block each. Raises ValueError when it holds none."""
    with open(ca_file, "rb") as f:
        data = f.read()
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"{ca_file}: no PEM certificate could be read ({exc})") from None
    return [cert.public_bytes(Encoding.PEM) for cert in certs]


def _failed(start: float, error: AttemptError, detail: str) -> Outcome:
    return Outcome(None, {}, b"", (time.perf_counter() - start) * 1000.0, error, detail)


async def _guard(resolver: GuardedResolver, url: str, timeout_s: float) -> tuple[TargetAddress, tuple[str, ...]]:
    """Check a target against the guard; answer it and the allowed addresses of its host name (empty for an
    allowed IP literal). Raises TargetRefused, socket.gaierror, TimeoutError (DNS past the deadline)."""
    target = client_target(url)
    if target.ip is not None:
        if target.refused and not resolver.allowed.allows(target.host, target.ip):
            raise TargetRefused(target.host)
        return target, ()
    allowed = resolver.cached(target.host)
    if allowed is None:
        async with asyncio.timeout(timeout_s):
            allowed = await resolver.resolve(target.host)
    return target, allowed


def _timeout_detail(timeout_s: float) -> str:
    return f"no answer within {timeout_s:g} s"


def _dns_detail(exc: OSError) -> str:
    return f"name resolution failed: {exc.strerror or exc}"


class PyreqwestTransport:
    """Transport on pyreqwest (Rust reqwest/hyper/rustls); see the module docstring for address pinning."""

    def __init__(
        self,
        *,
        allow_private_targets: bool,
        ca_file: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        max_connections: int | None = None,
        max_pinned_clients: int = MAX_PINNED_CLIENTS,
        resolver: GuardedResolver | None = None,
    ) -> None:
        self._roots = load_ca_file(ca_file) if ca_file else []
        self._user_agent = user_agent
        self._max_connections = max_connections  # per client: the shared one, and each pinned one
        self._max_pinned = max_pinned_clients
        self._client = self._build()
        self._resolver = None if allow_private_targets else resolver or GuardedResolver()
        self._pinned: dict[tuple[str, int], tuple[str, Client]] = {}
        self._timeouts: dict[float, timedelta] = {}

    def _build(self, pin: tuple[str, str, int] | None = None) -> Client:
        builder = (
            ClientBuilder()
            .follow_redirects(False)
            .referer(False)
            .no_proxy()
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .user_agent(self._user_agent)
            .max_connections(self._max_connections)
        )
        for pem in self._roots:
            builder = builder.add_root_certificate_pem(pem)
        if pin is not None:
            builder = builder.resolve(*pin)
        return builder.build()

    async def send(self, request: OutboundRequest) -> Outcome:
        start = time.perf_counter()
        timeout_s = request.timeout_s
        refusal = unsendable(request.url)
        if refusal is not None:
            return _failed(start, AttemptError.OTHER, refusal)
        try:
            timeout = self._timeouts.get(timeout_s)
            if timeout is None:
                timeout = timedelta(seconds=timeout_s)
                if len(self._timeouts) < _TIMEOUTS_KEPT:
                    self._timeouts[timeout_s] = timeout
            client = self._client
            if self._resolver is not None:
                target, allowed = await _guard(self._resolver, request.url, timeout_s)
                if allowed:
                    client = self._pinned_client(target, allowed)
                spent = time.perf_counter() - start
                if spent > _SPENT_S:  # a DNS look-up took some of the time
                    timeout = timedelta(seconds=max(timeout_s - spent, _SPENT_S))
            builder = client.request(request.method, request.url).headers(request.headers)
            async with builder.body_bytes(request.body).timeout(timeout).build_streamed() as response:
                body = await response.body_reader.read(MAX_RESPONSE_BYTES)
                status = response.status
                headers = _pyreqwest_headers(response.headers)
        except TargetRefused as exc:
            return _failed(start, AttemptError.REFUSED_BY_POLICY, exc.detail)
        except TimeoutError:  # pyreqwest's RequestTimeoutError, or the DNS look-up's deadline
            return _failed(start, AttemptError.TIMEOUT, _timeout_detail(timeout_s))
        except socket.gaierror as exc:
            return _failed(start, AttemptError.DNS, _dns_detail(exc))
        except rq.PyreqwestError as exc:
            error, detail = _classify_pyreqwest(exc)
            return _failed(start, error, detail)
        except Exception as exc:  # a bad URL or header value: still an outcome, never an exception
            return _failed(start, AttemptError.OTHER, f"{type(exc).__name__}: {exc}")
        return Outcome(
            status, headers, b"" if body is None else body.to_bytes(), (time.perf_counter() - start) * 1000.0
        )

    def _pinned_client(self, target: TargetAddress, allowed: tuple[str, ...]) -> Client:
        """The client pinned to one allowed address of a host name (see the module docstring)."""
        key = (target.host, target.port)
        pinned = self._pinned.get(key)
        if pinned is None or pinned[0] not in allowed:
            if pinned is None and len(self._pinned) >= self._max_pinned:
                del self._pinned[next(iter(self._pinned))]  # oldest; it finishes its in-flight requests
            pinned = (allowed[0], self._build((target.host, allowed[0], target.port)))
            self._pinned[key] = pinned
        return pinned[1]

    async def aclose(self) -> None:
        clients = [self._client, *(client for _, client in self._pinned.values())]
        self._pinned.clear()
        for client in clients:
            await client.close()


def _pyreqwest_headers(headers: HeaderMap) -> dict[str, str]:
    values = headers.dict_multi_value()  # one call into Rust: the cheapest way out
    if len(values) == len(headers):  # no repeated name: every value is a str
        return cast(dict[str, str], values)
    return {name: value if isinstance(value, str) else ", ".join(value) for name, value in values.items()}


def _classify_pyreqwest(exc: rq.PyreqwestError) -> tuple[AttemptError, str]:
    causes = exc.details.get("causes") if isinstance(exc, rq.DetailedPyreqwestError) else None
    messages = [cause["message"] for cause in causes or ()]
    detail = messages[-1] if messages else exc.message
    text = " ".join(messages).lower()
    if any(marker in text for marker in _DNS_MARKERS):
        return AttemptError.DNS, detail
    if isinstance(exc, rq.ConnectError) and any(marker in text for marker in _TLS_MARKERS):
        return AttemptError.TLS, detail
    if isinstance(exc, rq.NetworkError):
        return AttemptError.CONNECT, detail
    return AttemptError.OTHER, detail


class _AiohttpGuardResolver(AbstractResolver):
    """aiohttp resolver that hands the connector only allowed addresses: it connects to nothing else."""

    def __init__(self, resolver: GuardedResolver) -> None:
        self._resolver = resolver

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results: list[ResolveResult] = []
        for ip in await self._resolver.resolve(host):
            ip_family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            if family in (socket.AF_UNSPEC, ip_family):
                results.append(
                    {"hostname": host, "host": ip, "port": port, "family": ip_family, "proto": 0, "flags": 0}
                )
        if not results:
            raise socket.gaierror(socket.EAI_NONAME, f"no usable address for {host}")
        return results

    async def close(self) -> None:
        return None


class AiohttpTransport:
    """Transport on aiohttp: the comparison baseline and a fallback. The session is made on first use."""

    def __init__(
        self,
        *,
        allow_private_targets: bool,
        ca_file: str | None = None,
        user_agent: str = DEFAULT_USER_AGENT,
        max_connections: int | None = None,
        resolver: GuardedResolver | None = None,
    ) -> None:
        self._ssl = ssl.create_default_context()
        if ca_file:
            self._ssl.load_verify_locations(cafile=ca_file)
        self._user_agent = user_agent
        self._max_connections = max_connections
        self._resolver = None if allow_private_targets else resolver or GuardedResolver()
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._max_connections or 0,
            ssl=self._ssl,
            resolver=None if self._resolver is None else _AiohttpGuardResolver(self._resolver),
            use_dns_cache=self._resolver is None,  # the guarded resolver caches itself
        )
        return aiohttp.ClientSession(
            connector=connector,
            headers={"User-Agent": self._user_agent},
            skip_auto_headers=("Accept-Encoding", "Content-Type"),
            auto_decompress=False,
            trust_env=False,
        )

    async def send(self, request: OutboundRequest) -> Outcome:
        start = time.perf_counter()
        timeout_s = request.timeout_s
        refusal = unsendable(request.url)
        if refusal is not None:
            return _failed(start, AttemptError.OTHER, refusal)
        try:
            timeout = self._timeouts.get(timeout_s)
            if timeout is None:
                timeout = aiohttp.ClientTimeout(total=timeout_s)
                if len(self._timeouts) < _TIMEOUTS_KEPT:
                    self._timeouts[timeout_s] = timeout
            if self._resolver is not None:  # the connector's resolver, too, only hands out allowed addresses
                await _guard(self._resolver, request.url, timeout_s)
                spent = time.perf_counter() - start
                if spent > _SPENT_S:  # a DNS look-up took some of the time
                    timeout = aiohttp.ClientTimeout(total=max(timeout_s - spent, _SPENT_S))
            session = self._session
            if session is None:
                session = self._session = self._new_session()
            async with session.request(
                request.method,
                _aiohttp_url(request.url),
                data=request.body,
                headers=request.headers,
                allow_redirects=False,
                timeout=timeout,
            ) as response:
                body = await _read_capped(response.content)
                if not response.content.at_eof():
                    response.close()  # drop the connection rather than drain what we do not keep
                status = response.status
                headers = _aiohttp_headers(response)
        except TargetRefused as exc:
            return _failed(start, AttemptError.REFUSED_BY_POLICY, exc.detail)
        except TimeoutError:  # aiohttp's ServerTimeoutError and ConnectionTimeoutError are TimeoutErrors
            return _failed(start, AttemptError.TIMEOUT, _timeout_detail(timeout_s))
        except aiohttp.ClientConnectorDNSError as exc:
            return _failed(start, AttemptError.DNS, _dns_detail(exc.os_error))
        except socket.gaierror as exc:
            return _failed(start, AttemptError.DNS, _dns_detail(exc))
        except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError) as exc:
            return _failed(start, AttemptError.TLS, str(exc))
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            return _failed(start, AttemptError.CONNECT, str(exc) or type(exc).__name__)
        except Exception as exc:
            return _failed(start, AttemptError.OTHER, f"{type(exc).__name__}: {exc}")
        return Outcome(status, headers, body, (time.perf_counter() - start) * 1000.0)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@lru_cache(maxsize=4096)
def _aiohttp_url(url: str) -> URL:
    """The URL with its path and query exactly as given (yarl would decode %2F, %7E and others) and its host
    canonical (lower case, IDNA), as the guard resolved it."""
    parsed = URL(url)
    split = urlsplit(url)
    return URL.build(scheme=parsed.scheme, user=parsed.raw_user, password=parsed.raw_password, host=parsed.raw_host
                     or "", port=parsed.explicit_port, path=split.path or "/", query_string=split.query,
                     encoded=True)


async def _read_capped(content: aiohttp.StreamReader) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < MAX_RESPONSE_BYTES:
        chunk = await content.read(MAX_RESPONSE_BYTES - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _aiohttp_headers(response: aiohttp.ClientResponse) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers
