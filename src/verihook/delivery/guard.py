"""The target guard: keeps deliveries away from loopback, private, link-local and metadata addresses (SSRF).

Two moments check a target (DESIGN.md, "TargetAddress guard"):

- when an endpoint is created or changed, `check_url` refuses a bad scheme, a missing host and an IP literal
  in a refused range (a host name is not resolved then: one that does not resolve yet is accepted);
- when connecting, the transport resolves the host with `GuardedResolver` and connects only to an allowed
  address, pinned so that a second DNS answer cannot rebind the name to a refused one.

Hosts are read as a WHATWG URL parser reads them, so legacy numeric forms such as `http://2130706433/` or
`http://0x7f.1/` are seen as the IP literal 127.0.0.1 they are, not as host names: at input by `url_host.py` (plain
Python, so that the service, which calls `check_url`, imports no HTTP client), when connecting by the client's own
parser (`client_url.py`, pyreqwest's `Url`). A test holds the two to the same answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from verihook.delivery.exact_url import check_exact
from verihook.delivery.url_host import read_host
from verihook.errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DNS_TTL_S = 30.0  # how long a resolution is reused (getaddrinfo tells no TTL)
DNS_CACHE_MAX = 4096

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# Refused whatever the standard library thinks of them (it is a backstop below, and its lists move between
# Python releases).
_REFUSED_V4 = tuple(
    _V4(n)
    for n in (
        "0.0.0.0/8",  # "this network", includes the unspecified address
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # carrier-grade NAT (shared address space)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, includes the cloud metadata address 169.254.169.254
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # TEST-NET-1
        "192.88.99.0/24",  # 6to4 relay anycast (deprecated)
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # TEST-NET-2
        "203.0.113.0/24",  # TEST-NET-3
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, includes broadcast 255.255.255.255
    )
)
_GLOBAL_UNICAST_V6 = _V6("2000::/3")  # everything outside it is refused (ULA, link-local, multicast, ...)
_REFUSED_V6 = tuple(
    _V6(n)
    for n in (
        "2001::/32",  # Teredo: the client's address is hidden in it
        "2001:db8::/32",  # documentation
        "2001:2::/48",  # benchmarking
        "2001:10::/28",  # ORCHID
        "3fff::/20",  # documentation
    )
)
_NAT64_V6 = _V6("64:ff9b::/96")  # well-known NAT64 prefix: the last 32 bits are an IPv4 address


class TargetRefused(Exception):
    """The target resolves only to addresses the guard refuses."""

    def __init__(self, host: str, address: str | None = None) -> None:
        # `detail` goes to the tenant (attempts, the test call): it names the host, never the private address a
        # name resolves to (that would map the internal network); `address` is for the operator's logs
        detail = (f"target refused by policy: {host}" if address is None or address == host else
                  f"target refused by policy: {host} resolves only to loopback, private, link-local or reserved "
                  "addresses")
        super().__init__(detail)
        self.address = address or host
        self.detail = detail


@dataclass(frozen=True, slots=True)
class AllowedTargets:
    """What VERIHOOK_ALLOWED_TARGETS lets through although the guard refuses it: addresses in `networks`, and any
    address a host named in `hosts` resolves to (for a platform whose receiver is internal)."""

    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AllowedTargets:
        """From CIDRs (or single addresses) and host names; raises ValueError naming an entry that is neither."""
        networks, hosts = [], set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=True))
            except ValueError:
                host = entry.strip().lower().removesuffix(".")
                if not _HOST_NAME.fullmatch(host):
                    raise ValueError(f"{entry!r} is neither a CIDR (10.0.0.0/8, fd00::/8) nor a host name") from None
                hosts.add(host)
        return cls(tuple(networks), frozenset(hosts))

    def allows(self, host: str, ip: IPAddress | None) -> bool:
        if host in self.hosts:
            return True
        if ip is None:
            return False
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        return any(ip in net or (mapped is not None and mapped in net) for net in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks or self.hosts)


NOTHING_ALLOWED = AllowedTargets()


@lru_cache(maxsize=16)
def allowed_targets(entries: tuple[str, ...]) -> AllowedTargets:
    """`AllowedTargets.of(entries)`, parsed once (Settings.allowed_targets); ValueError names a bad entry."""
    try:
        return AllowedTargets.of(entries)
    except ValueError as error:
        raise ValueError(f"VERIHOOK_ALLOWED_TARGETS: {error}") from None
_HOST_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def is_refused_address(ip: IPAddress) -> bool:
    """True for loopback, private, link-local, metadata, CGNAT, multicast, reserved, unspecified and
    documentation addresses, and for IPv6 addresses that embed such an IPv4 address."""
    if isinstance(ip, ipaddress.IPv4Address):
        if any(ip in net for net in _REFUSED_V4):
            return True
        return not ip.is_global or ip.is_multicast
    embedded = ip.ipv4_mapped if ip.ipv4_mapped is not None else ip.sixtofour
    if embedded is None and ip in _NAT64_V6:
        embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if embedded is None and ip.teredo is not None:
        embedded = ip.teredo[1]  # the client's address
    if embedded is not None and is_refused_address(embedded):
        return True
    if ip.ipv4_mapped is not None or ip in _NAT64_V6:
        return False  # an IPv4 address in IPv6 clothes, judged above
    if ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _REFUSED_V6):
        return True
    return not ip.is_global or ip.is_multicast


def parse_ip(host: str) -> IPAddress | None:
    """The IP address of a host as the URL parser gives it ("[::1]" included), or None for a name."""
    if host.startswith("["):
        host = host[1:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class TargetAddress:
    scheme: str
    host: str  # canonical: lower case, punycode, IPv6 without brackets, legacy IPv4 forms normalised
    port: int
    ip: IPAddress | None  # set when the host is an IP literal
    refused: bool  # an IP literal in a refused range


def target_address(scheme: str, host: str, port: int) -> TargetAddress:
    """The target of a URL read by a WHATWG parser: `host` as the parser gives it ("[::1]" included)."""
    ip = parse_ip(host)
    if ip is None:
        return TargetAddress(scheme, host, port, None, False)
    return TargetAddress(scheme, str(ip), port, ip, is_refused_address(ip))


@lru_cache(maxsize=4096)
def parse_target(url: str) -> TargetAddress:
    """Scheme, canonical host and port of an absolute http(s) URL, read as the sender's parser reads it
    (url_host.py; the transport reads it again with the client's own, client_url.py).

    Raises ValueError for a URL that is not http(s), has no host, or whose host or port is not valid."""
    read = read_host(url)
    return target_address(read.scheme, read.host, read.port)


def check_url(url: str, *, allow_private_targets: bool, require_https: bool = False,
              allowed: AllowedTargets = NOTHING_ALLOWED) -> None:
    """Check an endpoint (or subject) URL when it is created or changed; raise InvalidInput(field="url")."""
    check_exact(url)
    try:
        split = urlsplit(url)
    except ValueError as exc:
        raise InvalidInput(f"url is not valid: {exc}", field="url") from None
    scheme = split.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidInput("url must start with http:// or https://", field="url")
    if not split.hostname:
        raise InvalidInput("url has no host", field="url")
    if require_https and scheme != "https":
        raise InvalidInput("url must use https", field="url")
    try:
        _ = split.port
        target = parse_target(url)
    except ValueError as exc:
        raise InvalidInput(f"url is not valid: {exc}", field="url") from None
    if not allow_private_targets and target.refused and not allowed.allows(target.host, target.ip):
        raise InvalidInput(
            f"target refused by policy: {target.ip} is a loopback, private, link-local or reserved address",
            field="url",
        )


async def system_lookup(host: str) -> list[str]:
    """The addresses of a host name from the system resolver (getaddrinfo in the loop's executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(sockaddr[0]) for _family, _type, _proto, _name, sockaddr in infos]


class GuardedResolver:
    """Resolves host names, caches answers for `ttl_s`, and hands out only allowed addresses. Concurrent
    look-ups of one name share one call to `lookup`.

    `lookup` (the system resolver by default) and `is_refused` (the policy) can be replaced, e.g. by a test
    that needs a name to resolve to a loopback address it allows."""

    def __init__(
        self,
        *,
        ttl_s: float = DNS_TTL_S,
        max_entries: int = DNS_CACHE_MAX,
        lookup: Callable[[str], Awaitable[list[str]]] = system_lookup,
        is_refused: Callable[[IPAddress], bool] = is_refused_address,
        allowed: AllowedTargets = NOTHING_ALLOWED,
    ) -> None:
        self.allowed = allowed
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._lookup_addresses = lookup
        self._is_refused = is_refused
        self._cache: dict[str, tuple[float, tuple[str, ...], str | None]] = {}
        self._inflight: dict[str, asyncio.Future[tuple[tuple[str, ...], str | None]]] = {}

    def cached(self, host: str) -> tuple[str, ...] | None:
        """The allowed addresses of a fresh cached answer, None when a look-up is needed.

        Raises TargetRefused when the cached answer holds only refused addresses."""
        entry = self._cache.get(host)
        if entry is None or entry[0] < time.monotonic():
            return None
        if not entry[1]:
            raise TargetRefused(host, entry[2])
        return entry[1]

    async def resolve(self, host: str) -> tuple[str, ...]:
        """The allowed addresses of `host`, in resolver order, never empty.

        Raises TargetRefused when every address is refused, socket.gaierror when the name does not resolve."""
        allowed = self.cached(host)
        if allowed is not None:
            return allowed
        future = self._inflight.get(host)
        if future is None:
            future = asyncio.ensure_future(self._lookup(host))
            self._inflight[host] = future
            future.add_done_callback(lambda f: self._lookup_done(host, f))
        allowed, refused = await asyncio.shield(future)
        if not allowed:
            raise TargetRefused(host, refused)
        return allowed

    def _lookup_done(self, host: str, future: asyncio.Future[tuple[tuple[str, ...], str | None]]) -> None:
        self._inflight.pop(host, None)
        if not future.cancelled():
            future.exception()  # retrieved here, so that a failure nobody waits for is not logged

    async def _lookup(self, host: str) -> tuple[tuple[str, ...], str | None]:
        allowed: list[str] = []
        refused: str | None = None
        for address in await self._lookup_addresses(host):
            ip = parse_ip(address.split("%", 1)[0])  # drop an IPv6 zone
            if ip is None:
                continue
            if self._is_refused(ip) and not self.allowed.allows(host, ip):
                refused = refused or str(ip)
            elif str(ip) not in allowed:
                allowed.append(str(ip))
        if not allowed and refused is None:
            raise socket.gaierror(socket.EAI_NONAME, f"no address for {host}")
        if len(self._cache) >= self._max_entries:
            self._cache.pop(next(iter(self._cache)))
        result = (tuple(allowed), refused)
        self._cache[host] = (time.monotonic() + self._ttl_s, *result)
        return result
