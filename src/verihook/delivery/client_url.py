"""A destination URL as the HTTP client reads it (pyreqwest's WHATWG `Url`): the transport checks and pins this
reading, the one the client connects to. The input check (`guard.check_url`) reads it in plain Python
(`url_host.py`), so that the service imports no HTTP client; tests/unit/test_url_host.py holds the two alike."""

from __future__ import annotations

from functools import lru_cache

from pyreqwest.http import Url

from verihook.delivery.guard import TargetAddress, target_address


@lru_cache(maxsize=4096)
def client_target(url: str) -> TargetAddress:
    """Scheme, canonical host and port the client connects to. Raises ValueError for a URL that is not http(s)
    or has no host."""
    parsed = Url(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"url scheme {parsed.scheme!r} is not allowed")
    host = parsed.host_str
    port = parsed.port_or_known_default
    if not host or port is None:
        raise ValueError(f"url has no host: {url}")
    return target_address(parsed.scheme, host, port)
