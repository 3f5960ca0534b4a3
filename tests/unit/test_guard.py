from __future__ import annotations

import asyncio
import ipaddress
import re
import socket

import pytest

from verihook.delivery.guard import (
    AllowedTargets,
    GuardedResolver,
    TargetRefused,
    check_url,
    is_refused_address,
    parse_target,
)
from verihook.errors import InvalidInput

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "169.254.0.1",
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.10",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "fec0::1",
    "::ffff:127.0.0.1",
    "::ffff:10.1.2.3",
    "::ffff:169.254.169.254",
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2001:db8::1",
    "::7f00:1",  # IPv4-compatible (deprecated)
    "198.51.100.7",  # TEST-NET-2
    "203.0.113.9",  # TEST-NET-3
    "192.0.0.170",  # IETF protocol assignments (NAT64 discovery)
    "192.88.99.1",  # 6to4 relay anycast
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo with a public server and client
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo whose client is 127.0.0.1 (obfuscated)
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (metadata)
    "::ffff:0:0",  # IPv4-mapped 0.0.0.0
    "::ffff:100.64.0.1",  # IPv4-mapped CGNAT
    "::ffff:224.0.0.1",  # IPv4-mapped multicast
    "169.254.255.255",  # link-local, last
    "fe80::abcd",  # IPv6 link-local
    "febf::1",  # IPv6 link-local, top of fe80::/10
    "ff05::1",  # IPv6 site-local multicast
    "ff0e::1",  # IPv6 global-scope multicast: still not a webhook receiver
    "224.0.0.251",  # mDNS multicast
    "100.100.100.200",  # CGNAT (some clouds' metadata)
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below CGNAT
    "172.32.0.1",  # just above 172.16/12
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize("address", REFUSED)
def test_refused_addresses(address: str) -> None:
    assert is_refused_address(ipaddress.ip_address(address)) is True


@pytest.mark.parametrize("address", ALLOWED)
def test_allowed_addresses(address: str) -> None:
    assert is_refused_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize(
    ("url", "require_https", "message"),
    [
        ("ftp://example.com/x", False, "http:// or https://"),
        ("file:///etc/passwd", False, "http:// or https://"),
        ("example.com/hook", False, "http:// or https://"),
        ("http:///path", False, "no host"),
        ("https://", False, "no host"),
        ("http://example.com/hook", True, "https"),
        ("http://10.0.0.1/hook", False, "refused by policy"),
        ("http://169.254.169.254/latest/meta-data/", False, "refused by policy"),
        ("http://[::1]:8080/", False, "refused by policy"),
        ("http://[::ffff:127.0.0.1]/", False, "refused by policy"),
        ("https://127.0.0.1/", True, "refused by policy"),
        ("http://2130706433/", False, "refused by policy"),  # 127.0.0.1 in decimal, as WHATWG parsers read it
        ("http://0x7f.1/", False, "refused by policy"),
        ("http://example.com:99999/", False, "not valid"),
    ],
)
def test_check_url_refuses(url: str, require_https: bool, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_url(url, allow_private_targets=False, require_https=require_https)
    assert info.value.field == "url"
    assert message in info.value.detail


@pytest.mark.parametrize(
    "url",
    [
        "http://8.8.8.8/hook",
        "https://8.8.8.8/hook",
        "https://hooks.example.com/incoming?token=abc",
        "http://localhost:8080/hook",  # a name is not resolved at creation
        "https://nonexistent.invalid/hook",  # nor refused when it does not resolve
        "https://[2606:4700:4700::1111]/",
        "HTTPS://Example.COM/Path",
    ],
)
def test_check_url_accepts(url: str) -> None:
    check_url(url, allow_private_targets=False)
    check_url(url, allow_private_targets=True)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9000/", "http://10.0.0.1/", "http://[::1]/"])
def test_private_targets_allowed_by_configuration(url: str) -> None:
    check_url(url, allow_private_targets=True)


def test_require_https_accepts_https() -> None:
    check_url("https://hooks.example.com/", allow_private_targets=False, require_https=True)


def test_parse_target_canonical_host() -> None:
    target = parse_target("HTTP://0x7f.1:8080/a")
    assert (target.scheme, target.host, target.port, target.refused) == ("http", "127.0.0.1", 8080, True)
    target = parse_target("https://Hooks.Example.com/a")
    assert (target.host, target.port, target.ip, target.refused) == ("hooks.example.com", 443, None, False)
    assert parse_target("http://[::1]/").host == "::1"
    with pytest.raises(ValueError):
        parse_target("ftp://example.com/")


async def test_resolver_refuses_localhost_and_caches() -> None:
    resolver = GuardedResolver()
    with pytest.raises(TargetRefused) as info:
        await resolver.resolve("localhost")
    assert info.value.address in ("127.0.0.1", "::1")
    assert str(info.value).startswith("target refused by policy: ")
    with pytest.raises(TargetRefused):  # from the cache now
        resolver.cached("localhost")


async def test_resolver_unresolvable_name() -> None:
    with pytest.raises(socket.gaierror):
        await GuardedResolver().resolve("nonexistent.invalid")


async def test_resolver_keeps_only_allowed_addresses_and_shares_lookups() -> None:
    calls: list[str] = []

    async def lookup(host: str) -> list[str]:
        calls.append(host)
        return ["169.254.169.254", "8.8.8.8", "10.0.0.1", "8.8.8.8", "2606:4700:4700::1111"]

    resolver = GuardedResolver(lookup=lookup)
    answers = await asyncio.gather(*(resolver.resolve("hooks.example.com") for _ in range(10)))
    assert all(answer == ("8.8.8.8", "2606:4700:4700::1111") for answer in answers)
    assert calls == ["hooks.example.com"]
    assert resolver.cached("hooks.example.com") == ("8.8.8.8", "2606:4700:4700::1111")


LEGACY_LOOPBACK_SPELLINGS = ["http://0177.0.0.1/", "http://0x7f.1/", "http://2130706433/", "http://0x7f000001/",
                             "http://017700000001/", "http://127.1/", "http://[::ffff:127.0.0.1]/",
                             "http://[::ffff:7f00:1]/", "http://[64:ff9b::127.0.0.1]/", "http://0/"]


@pytest.mark.parametrize("url", LEGACY_LOOPBACK_SPELLINGS)
def test_legacy_and_embedded_spellings_of_loopback_are_refused(url: str) -> None:
    """Octal, hexadecimal and decimal IPv4 forms are read as the address they are, as the sender's parser reads
    them; IPv4-mapped and NAT64 forms are judged by the IPv4 address inside."""
    assert parse_target(url).refused
    with pytest.raises(InvalidInput) as info:
        check_url(url, allow_private_targets=False)
    assert info.value.field == "url" and "target refused by policy" in info.value.detail


def test_allowed_targets_let_through_only_what_they_name() -> None:
    allowed = AllowedTargets.of(["10.20.0.0/16", "Receiver.Internal.", "fd00:1::/32", "127.0.0.1"])
    for url in ("http://10.20.3.4/hook", "http://[fd00:1::5]/hook", "http://127.0.0.1:9000/",
                "http://[::ffff:10.20.3.4]/", "http://receiver.internal/hook"):
        check_url(url, allow_private_targets=False, allowed=allowed)
    for url in ("http://10.21.0.1/hook", "http://127.0.0.2/", "http://0x7f.2/", "http://169.254.169.254/",
                "http://[fd00:2::1]/", "http://[::1]/"):
        with pytest.raises(InvalidInput):
            check_url(url, allow_private_targets=False, allowed=allowed)


@pytest.mark.parametrize("entry", ["10.0.0.1/8", "http://x.example", "10.0.0.0/33", "under_score.example", "a..b"])
def test_a_bad_allowed_target_is_refused_naming_it(entry: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(entry))):
        AllowedTargets.of([entry])


async def test_the_resolver_hands_out_private_addresses_of_an_allowed_name_or_network_only() -> None:
    async def lookup(host: str) -> list[str]:
        return {"receiver.internal": ["10.9.8.7"], "other.internal": ["10.9.8.7", "192.168.1.1"],
                "sneaky.example": ["169.254.169.254"]}[host]

    resolver = GuardedResolver(lookup=lookup, allowed=AllowedTargets.of(["receiver.internal", "192.168.1.0/24"]))
    assert await resolver.resolve("receiver.internal") == ("10.9.8.7",)
    assert await resolver.resolve("other.internal") == ("192.168.1.1",)  # checked address by address
    with pytest.raises(TargetRefused):
        await resolver.resolve("sneaky.example")
