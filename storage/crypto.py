"""Secrets at rest: Fernet tokens under a MultiFernet, newest key first, so keys can rotate."""

from __future__ import annotations

import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class SecretsKeyError(ValueError):
    """The configured ENCRYPTION_KEYS cannot be used (never includes the key material)."""


class SecretBox:
    """Encrypts and decrypts small secrets (tokens, credentials) with the configured keys."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in keys.split(",") if part.strip()]
        if not parts:
            raise SecretsKeyError("ENCRYPTION_KEYS is empty; make a key with `qbo-bot keys generate`")
        fernets = []
        for position, part in enumerate(parts, start=1):
            try:
                fernets.append(Fernet(part.encode()))
            except (ValueError, TypeError):
                raise SecretsKeyError(
                    f"ENCRYPTION_KEYS entry {position} is not a valid Fernet key (32 url-safe base64 bytes)"
                ) from None
        self._multi = MultiFernet(fernets)

    def __repr__(self) -> str:
        return "SecretBox(<keys hidden>)"

    def encrypt(self, plaintext: str) -> str:
        return self._multi.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._multi.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretsKeyError("a stored secret cannot be decrypted with the configured ENCRYPTION_KEYS") from None

    def encrypt_json(self, data: dict[str, Any]) -> str:
        return self.encrypt(json.dumps(data, separators=(",", ":")))

    def decrypt_json(self, ciphertext: str) -> dict[str, Any]:
        value = json.loads(self.decrypt(ciphertext))
        if not isinstance(value, dict):
            raise SecretsKeyError("a stored secret has an unexpected shape")
        return value

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt under the newest key (the first in ENCRYPTION_KEYS)."""
        try:
            return self._multi.rotate(ciphertext.encode()).decode()
        except InvalidToken:
            raise SecretsKeyError("a stored secret cannot be decrypted with the configured ENCRYPTION_KEYS") from None


def generate_key() -> str:
    return Fernet.generate_key().decode()
