"""What Verihook never shows of a URL: the password in its userinfo. No I/O here."""

from __future__ import annotations

import re

REDACTED = "***"
_USERINFO_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/?#@:]*):[^/?#@]*@")


def url_redacted(url: str | None) -> str | None:
    """The URL as given, but a password in its userinfo (`https://user:pass@host/`) replaced by ***."""
    return None if url is None else _USERINFO_PASSWORD.sub(rf"\1:{REDACTED}@", url, count=1)
