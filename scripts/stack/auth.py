"""How the dev stack's callers authenticate: an HS256 token for the sample job's tenant,
signed with pyjwt, unless the API is told to use an identity provider or no tokens."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jwt

TOKEN_HOURS = 12
READ_WRITE = ("trainer:read", "trainer:write")


def mint_token(
    secret: str,
    tenant: str,
    *,
    subject: str,
    roles: Sequence[str] = READ_WRITE,
    hours: float = TOKEN_HOURS,
    tenant_claim: str = "tenant",
    roles_claim: str = "roles",
    audience: str | None = None,
    issuer: str | None = None,
) -> str:
    """A signed HS256 JWT for `tenant`, valid for `hours`, that the API accepts."""
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": subject,
        tenant_claim: tenant,
        roles_claim: list(roles),
        "iat": now,
        "exp": now + int(hours * 3600),
    }
    if audience:
        claims["aud"] = audience
    if issuer:
        claims["iss"] = issuer
    return jwt.encode(claims, secret, algorithm="HS256")


@dataclass
class StackAuth:
    """What the API is started with (`env`) and what callers send (`headers`)."""

    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    note: str = ""

    @property
    def token(self) -> str:
        return self.headers.get("Authorization", "").removeprefix("Bearer ")


def stack_auth(configured: Mapping[str, str], tenant: str) -> StackAuth:
    """Settle how the demo (and you, in dev) call the API.

    Unless authentication is configured, the API gets a random HS256 secret for this run
    and a token for `tenant` is signed with it. `AUTH_MODE=disabled` sends no token; with
    `JWT_JWKS_URL` or `JWT_PUBLIC_KEY_FILE` the token is `TRAINER_TOKEN`, if set.
    """
    if configured.get("AUTH_MODE", "").lower() == "disabled":
        return StackAuth(note="authentication disabled (AUTH_MODE=disabled)")
    if configured.get("JWT_JWKS_URL") or configured.get("JWT_PUBLIC_KEY_FILE"):
        given = configured.get("TRAINER_TOKEN")
        return StackAuth(
            headers={"Authorization": f"Bearer {given}"} if given else {},
            note="tokens come from your issuer (JWT_JWKS_URL / JWT_PUBLIC_KEY_FILE)",
        )
    env: dict[str, str] = {}
    secret = configured.get("JWT_SECRET")
    secret_file = configured.get("JWT_SECRET_FILE")
    if not secret and secret_file:
        secret = Path(secret_file).read_text(encoding="utf-8").strip()
    if not secret:
        secret = secrets.token_urlsafe(32)
        env["JWT_SECRET"] = secret
    token = mint_token(
        secret,
        tenant,
        subject="make-demo",
        tenant_claim=configured.get("JWT_TENANT_CLAIM", "tenant"),
        roles_claim=configured.get("JWT_ROLES_CLAIM", "roles"),
        audience=configured.get("JWT_AUDIENCE"),
        issuer=configured.get("JWT_ISSUER"),
    )
    return StackAuth(
        env=env,
        headers={"Authorization": f"Bearer {token}"},
        note=f"a {TOKEN_HOURS}-hour token for tenant {tenant} (read, write)",
    )
