"""Signing test tokens the way an identity provider would (HS256 shared secret)."""

from __future__ import annotations

import time

import jwt

TEST_JWT_SECRET = "test-jwt-secret-for-the-suite-only-0123456789"


def token(
    tenant: str | None,
    roles: list[str],
    *,
    secret: str = TEST_JWT_SECRET,
    expires_in: int = 3600,
    subject: str = "tester",
) -> str:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        "roles": roles,
        "iat": now,
        "exp": now + expires_in,
    }
    if tenant is not None:
        claims["tenant"] = tenant
    return jwt.encode(claims, secret, algorithm="HS256")


def bearer(tenant: str | None, roles: list[str], **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, roles, **kwargs)}"}  # type: ignore[arg-type]
