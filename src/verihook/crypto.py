"""Encryption of stored secrets (signing secrets, auth tokens, client secrets) with keys from settings.

VERIHOOK_SECRET_KEY holds one key or several separated by commas: the first seals, every one opens (so a new key
is put first, `verihook reseal` seals everything again under it, and the old ones can then be dropped). Whatever
else is derived from the secret (the dashboard's session and portal-link signing key) comes from the first key
only: putting a new key first ends the open dashboard sessions and portal links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SEALED_PREFIX = "sealed:"
KEY_SEPARATOR = ","
MAX_OPENED = 10_000


class SecretBox:
    """Seals strings with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the first configured secret;
    opens what any of them sealed."""

    def __init__(self, secret_keys: str) -> None:
        keys = [key.strip() for key in secret_keys.split(KEY_SEPARATOR)]
        if not all(keys):
            raise ValueError("VERIHOOK_SECRET_KEY holds an empty key (keys are separated by commas)")
        derived = [hashlib.sha256(key.encode()).digest() for key in keys]
        self._derived = derived[0]
        self._fernet = MultiFernet([Fernet(base64.urlsafe_b64encode(d)) for d in derived])
        self._opened: dict[str, str] = {}  # every seal is unique, so a sealed value opens to one plaintext

    def derive(self, purpose: str) -> bytes:
        """A key for another use (signing dashboard sessions), derived from the first secret: 32 bytes."""
        return hmac.new(self._derived, purpose.encode(), hashlib.sha256).digest()

    def reseal(self, sealed: str) -> str:
        """The value sealed again under the first key."""
        return self.seal(self.open(sealed))

    def seal(self, plaintext: str) -> str:
        return SEALED_PREFIX + self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, sealed: str) -> str:
        opened = self._opened.get(sealed)
        if opened is None:
            opened = self._open(sealed)
            if len(self._opened) >= MAX_OPENED:
                self._opened.clear()
            self._opened[sealed] = opened
        return opened

    def _open(self, sealed: str) -> str:
        if not sealed.startswith(SEALED_PREFIX):
            raise ValueError("value is not sealed")
        try:
            return self._fernet.decrypt(sealed.removeprefix(SEALED_PREFIX).encode()).decode()
        except InvalidToken as error:
            raise ValueError("sealed value does not open with any key of VERIHOOK_SECRET_KEY") from error


def load_or_create_key_file(path: Path) -> tuple[str, bool]:
    """The key kept in `path` (mode 0600), made on first use. Returns (key, created).

    Processes starting together may both find no file: each writes its key to a file of its own and links it into
    place, which only the first does; the others read the winner's (a link never shows a half-written file).
    """
    if path.exists():
        return path.read_text().strip(), False
    key = secrets.token_urlsafe(32)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip(), False
    finally:
        draft.unlink(missing_ok=True)
    return key, True


def generate_token() -> str:
    """A random URL-safe token (32 bytes of entropy) for generated Basic tokens."""
    return secrets.token_urlsafe(32)
