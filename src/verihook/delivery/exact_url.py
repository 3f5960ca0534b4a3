"""A destination URL is sent exactly as given, or refused when it is given: never re-encoded on the way out.

Accepted: an RFC 3986 URL (unreserved and reserved characters, `%` only as a percent-escape of two hex digits,
`[` `]` only around an IPv6 host) that every transport puts on the wire unchanged. Refused besides what RFC 3986
forbids, because a sender would change it: a fragment (never sent), `'` in the query (pyreqwest's WHATWG parser
sends it as %27), an empty query (aiohttp drops the '?') and dot segments in the path (`/./`, `/../`, as %2e
too: the parser resolves them). The host is compared without regard to case, as DNS does. No I/O.
"""

from __future__ import annotations

import re
from functools import lru_cache

from verihook.errors import InvalidInput

ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_DOT_SEGMENT = re.compile(r"^(?:\.|%2e){1,2}$", re.IGNORECASE)


def escaped(char: str) -> str:
    """`char` percent-encoded (its UTF-8 bytes), as a URL must carry it."""
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))


def _refuse(detail: str) -> InvalidInput:
    return InvalidInput(f"url {detail}; Verihook sends a URL exactly as given and never re-encodes it", field="url")


def check_exact(url: str) -> None:
    """Raise InvalidInput(field="url") unless every transport can send `url` byte for byte."""
    for position, char in enumerate(url):
        if char not in ALLOWED:
            shown = repr(char) if char.isprintable() else f"U+{ord(char):04X}"
            if ord(char) > 127 and _in_host(url, position):
                raise _refuse(f"holds the character {shown} (at {position}) in its host: write the host in its "
                              f"IDNA (punycode) form, e.g. xn--..., or a non-ASCII path part as {escaped(char)}")
            raise _refuse(f"holds the character {shown} (at {position}), which a URL cannot carry: write it "
                          f"percent-encoded as {escaped(char)}")
    for match in re.finditer("%", url):
        if not _ESCAPE.match(url, match.start()):
            raise _refuse(f"holds a '%' (at {match.start()}) that starts no percent-escape: write a literal '%' "
                          "as %25")
    if "#" in url:
        raise _refuse(f"holds a fragment ({url[url.index('#'):]!r}), which is never sent: write '#' as %23 if "
                      "it belongs to the path or query")
    scheme_end = url.find("://")
    rest = url[scheme_end + 3:] if scheme_end >= 0 else url
    authority_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, path_query = rest[:authority_end], rest[authority_end:]
    host = authority.rpartition("@")[2]
    if "%" in host:
        raise _refuse("holds a percent-escape in its host, which a sender decodes: write the host plainly")
    bracketed = host.startswith("[") and "]" in host and host.count("[") == host.count("]") == 1
    if ("[" in host or "]" in host) and not bracketed:
        raise _refuse("holds '[' or ']' outside an IPv6 host: write them as %5B and %5D")
    path, _, query = path_query.partition("?")
    for char in "[]":
        if char in path_query:
            raise _refuse(f"holds {char!r} in its path or query, which a URL cannot carry there: write it "
                          f"percent-encoded as {escaped(char)}")
    if path_query.endswith("?") and path_query.count("?") == 1:
        raise _refuse("ends in an empty query ('?' with nothing after it), which a sender drops: leave the '?' out")
    if "'" in query:
        raise _refuse("holds \"'\" in its query, which a sender sends as %27: write it percent-encoded as %27")
    if any(_DOT_SEGMENT.match(segment) for segment in path.split("/")[1:]):
        raise _refuse("holds a dot segment ('.' or '..', %2E too) in its path, which a sender resolves away: "
                      "write the path without it")


def _in_host(url: str, position: int) -> bool:
    start = url.find("://") + 3
    end = min((i for i in (url.find("/", start), url.find("?", start)) if i >= 0), default=len(url))
    return start <= position < end


@lru_cache(maxsize=4096)
def unsendable(url: str) -> str | None:
    """Why the path or query of `url` cannot be sent unchanged (a URL stored before this check), or None. The host
    is the guard's: it goes out in its canonical form. Cached for the hot path."""
    start = url.find("://") + 3
    end = min((i for i in (url.find("/", start), url.find("?", start)) if i >= 0), default=len(url))
    try:
        check_exact("http://h" + url[end:])
    except InvalidInput as error:
        return error.detail
    return None
