"""What Verihook never shows of a URL (the password in its userinfo) or of a request's headers (the credentials of
`Authorization`). No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "***"
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def url_redacted(url: str | None) -> str | None:
    """The URL as given, but a password in its userinfo (`https://user:pass@host/`) replaced by ***."""
    return None if url is None else _USERINFO_PASSWORD.sub(rf"\1:{REDACTED}@", url, count=1)


def headers_shown(headers: Iterable[tuple[str, str]], into: dict[str, str] | None = None) -> dict[str, str]:
    """Request headers as an attempt records them, added to `into` (a new dict if None): names in lower case, a
    later header of a name replacing an earlier one's value, `Authorization` reduced to its scheme and ***."""
    shown = {} if into is None else into
    for name, value in headers:
        name = name.lower()
        if name == "authorization":
            value = f"{value.split(' ', 1)[0]} {REDACTED}"
        shown[name] = value
    return shown
