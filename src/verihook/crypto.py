"""Encryption of stored secrets (signing secrets, auth tokens, client secrets) with a key from settings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

SEALED_PREFIX = "sealed:"
MAX_OPENED = 10_000


class SecretBox:
    """Seals strings with Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from the configured secret."""

    def __init__(self, secret_key: str) -> None:
        derived = hashlib.sha256(secret_key.encode()).digest()
        self._derived = derived
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._opened: dict[str, str] = {}  # every seal is unique, so a sealed value opens to one plaintext

    def derive(self, purpose: str) -> bytes:
        """A key for another use (signing dashboard sessions), derived from the same secret: 32 bytes."""
        return hmac.new(self._derived, purpose.encode(), hashlib.sha256).digest()

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
            raise ValueError("sealed value does not open with this VERIHOOK_SECRET_KEY") from error


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
