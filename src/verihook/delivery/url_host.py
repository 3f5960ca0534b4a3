"""The scheme, host and port of an http(s) URL as a WHATWG URL parser reads them, in plain Python. No I/O.

The target guard checks a URL when it is given (`guard.check_url`, called by the service) with this reading, and
the transport checks it again when connecting with the HTTP client's own parser (`client_url.py`, pyreqwest's
`Url`); `tests/unit/test_url_host.py` holds the two to the same answers. What the WHATWG host parser does that
urllib does not: legacy IPv4 forms (`2130706433`, `0x7f.1`, `127.1`) are the IPv4 address they name, a host whose
last label is a number must be an IPv4 address, and `xn--` labels must be valid IDNA.

Hosts are ASCII here: `exact_url.check_exact`, which runs first, refuses raw non-ASCII characters and
percent-escapes in a host; a URL holding them is refused here too rather than mapped (UTS 46).
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import NamedTuple

import idna
import idna.core

DEFAULT_PORTS = {"http": 80, "https": 443}
# forbidden domain code points (WHATWG URL, "host representation") within ASCII
_FORBIDDEN = frozenset(chr(c) for c in range(0x20)) | frozenset(" #%/:<>?@[\\]^|\x7f")
_JOINERS = ("\u200c", "\u200d")
_RTL = frozenset(("R", "AL", "AN"))
_DIGITS = {8: frozenset("01234567"), 10: frozenset("0123456789"), 16: frozenset("0123456789abcdefABCDEF")}


class UrlHost(NamedTuple):
    scheme: str
    host: str  # lower case; an IPv4 address dotted, an IPv6 address without brackets
    port: int
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None  # set when the host is an address


def read_host(url: str) -> UrlHost:
    """Raises ValueError for a URL that is not http(s), has no host, or whose host or port is not valid."""
    scheme, sep, rest = url.partition(":")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS:
        raise ValueError(f"url scheme {scheme!r} is not allowed")
    rest = rest.lstrip("/")
    authority = rest[:min((i for i in (rest.find(c) for c in "/?#\\") if i >= 0), default=len(rest))]
    host_port = authority.rpartition("@")[2]
    if host_port.startswith("["):
        end = host_port.find("]")
        host, after = (host_port, "") if end < 0 else (host_port[:end + 1], host_port[end + 1:])
        if after and not after.startswith(":"):
            raise ValueError(f"url has a bad port: {url}")
        port_text = after[1:]
    else:
        host, _, port_text = host_port.partition(":")
    port = _port(port_text, scheme)
    if not host:
        raise ValueError(f"url has no host: {url}")
    if host.startswith("["):
        if not host.endswith("]"):
            raise ValueError("invalid IPv6 address")
        ip6 = _ipv6(host[1:-1])
        return UrlHost(scheme, str(ip6), port, ip6)
    domain = _domain_to_ascii(host)
    if _ends_in_a_number(domain):
        ip4 = _ipv4(domain)
        return UrlHost(scheme, str(ip4), port, ip4)
    return UrlHost(scheme, domain, port, None)


def _port(text: str, scheme: str) -> int:
    if not text:
        return DEFAULT_PORTS[scheme]
    if not (text.isascii() and text.isdigit()) or int(text) > 65535:
        raise ValueError("invalid port number")
    return int(text)


def _ipv6(text: str) -> ipaddress.IPv6Address:
    if "%" in text or not text.isascii():  # a zone is not part of a URL's host
        raise ValueError("invalid IPv6 address")
    try:
        return ipaddress.IPv6Address(text)
    except ValueError:
        raise ValueError("invalid IPv6 address") from None


def _domain_to_ascii(host: str) -> str:
    if not host.isascii() or "%" in host:
        raise ValueError("the host must be ASCII, without percent-escapes")
    domain = host.lower()
    if any(char in _FORBIDDEN for char in domain):
        raise ValueError("invalid domain character")
    labels = domain.split(".")
    decoded = [_decoded_label(label) if label.startswith("xn--") else label for label in labels]
    if any(unicodedata.bidirectional(char) in _RTL for label in decoded for char in label):
        for label in decoded:  # a domain with a right-to-left label: every label keeps the Bidi rule (RFC 5893)
            if label and not _bidi_ok(label):
                raise ValueError("invalid international domain name")
    return domain


def _decoded_label(label: str) -> str:
    """The Unicode label an `xn--` label stands for, checked as UTS 46 checks it for URLs (nontransitional,
    CheckJoiners, no STD3 rules, no hyphen rules)."""
    encoded = label[4:]
    if encoded.rfind("-") == 0:  # a delimiter with no basic code points before it: no encoder writes that
        raise ValueError("invalid international domain name")
    try:
        decoded = encoded.encode("ascii").decode("punycode")
    except UnicodeError:
        raise ValueError("invalid international domain name") from None
    if (not decoded or decoded.isascii() or unicodedata.normalize("NFC", decoded) != decoded
            or unicodedata.category(decoded[0]).startswith("M")
            # unassigned in this Python's Unicode tables: not judged, refused (a newer script: write its URL
            # when Python knows it)
            or any(unicodedata.category(char) == "Cn" for char in decoded)):
        raise ValueError("invalid international domain name")
    try:
        valid = idna.uts46_remap(decoded, std3_rules=False, transitional=False) == decoded
    except idna.IDNAError:
        valid = False
    if not valid or "." in decoded:
        raise ValueError("invalid international domain name")
    for position, char in enumerate(decoded):
        if char in _JOINERS and not idna.core.valid_contextj(decoded, position):
            raise ValueError("invalid international domain name")
    return decoded


def _bidi_ok(label: str) -> bool:
    try:
        return bool(idna.core.check_bidi(label, check_ltr=True))
    except idna.IDNAError:
        return False


def _ends_in_a_number(domain: str) -> bool:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last and last.isdigit():
        return True
    return _ipv4_number(last) is not None


def _ipv4_number(part: str) -> int | None:
    if not part:
        return None
    radix = 10
    if part[:2] in ("0x", "0X"):
        part, radix = part[2:], 16
    elif len(part) > 1 and part.startswith("0"):
        part, radix = part[1:], 8
    if not part:
        return 0
    return int(part, radix) if all(char in _DIGITS[radix] for char in part) else None


def _ipv4(domain: str) -> ipaddress.IPv4Address:
    parts = domain.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    numbers = [_ipv4_number(part) for part in parts]
    if len(parts) > 4 or any(number is None for number in numbers):
        raise ValueError("invalid IPv4 address")
    values = [number for number in numbers if number is not None]
    if any(value > 255 for value in values[:-1]) or values[-1] >= 256 ** (5 - len(values)):
        raise ValueError("invalid IPv4 address")
    address = values[-1]
    for index, value in enumerate(values[:-1]):
        address += value * 256 ** (3 - index)
    return ipaddress.IPv4Address(address)
