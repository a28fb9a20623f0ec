"""Who is calling, from `Authorization: Bearer <JWT>`: the tenant and the roles.

Tokens are verified with an HS256 shared secret, an RS256 public key, or a JWKS URL
(configured). Claims: the tenant (`jwt_tenant_claim`) and roles (`jwt_roles_claim`: a list,
or a space-separated string) among `trainer:read`, `trainer:write`, `trainer:admin`.
Tenancy is enforced by filtering every query by the caller's tenant; admins see all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

import jwt
import structlog
from fastapi import Depends, Request

from api.errors import ApiError
from core.settings import Settings
from core.text import text_problem

log = logging.getLogger("api.auth")

READ = "trainer:read"
WRITE = "trainer:write"
ADMIN = "trainer:admin"
# A subject names a reviewer or requester (at most 255 characters), a tenant a scope.
MAX_CLAIM_CHARS = 255


@dataclass(frozen=True)
class Caller:
    subject: str
    tenant: str | None  # None only for admins without a tenant claim
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    def has(self, role: str) -> bool:
        # Admin implies write implies read.
        implied = {ADMIN: {ADMIN, WRITE, READ}, WRITE: {WRITE, READ}, READ: {READ}}
        return any(role in implied.get(r, {r}) for r in self.roles)

    def tenant_filter(self) -> str | None:
        return None if self.is_admin else self.tenant


DEV_CALLER = Caller(subject="dev", tenant=None, roles=frozenset({READ, WRITE, ADMIN}))


def unauthorized(detail: str) -> ApiError:
    return ApiError(401, "unauthorized", detail)


@lru_cache(maxsize=4)
def _jwks_client(url: str) -> jwt.PyJWKClient:
    return jwt.PyJWKClient(url, cache_keys=True)


def _verification_key(settings: Settings, token: str) -> tuple[object, list[str]]:
    if settings.jwt_jwks_url:
        key = _jwks_client(settings.jwt_jwks_url).get_signing_key_from_jwt(token).key
        return key, ["RS256", "ES256"]
    if settings.jwt_public_key_file:
        # Read on each call so a rotated key file takes effect without a restart.
        return Path(settings.jwt_public_key_file).read_text(encoding="utf-8"), ["RS256"]
    secret = settings.jwt_hs256_secret()
    if not secret:
        raise ApiError(503, "auth_not_configured", "authentication is not configured")
    return secret, ["HS256"]


def _is_claim_text(value: object) -> bool:
    """A tenant or subject we can store and send on (it names rows, reviewers, requesters)."""
    return (
        isinstance(value, str) and 0 < len(value) <= MAX_CLAIM_CHARS and text_problem(value) is None
    )


def _roles(raw: object) -> frozenset[str]:
    """The roles claim: absent, a space-separated string, or a list of strings; anything
    else makes the token invalid rather than the request fail."""
    if raw is None:
        return frozenset()
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list) and all(isinstance(role, str) for role in raw):
        return frozenset(raw)
    raise unauthorized("invalid roles claim")


def caller_from_token(settings: Settings, token: str) -> Caller:
    try:
        key, algorithms = _verification_key(settings, token)
        claims = jwt.decode(
            token,
            key,  # type: ignore[arg-type]
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "sub"], "verify_aud": settings.jwt_audience is not None},
        )
    except jwt.ExpiredSignatureError:
        raise unauthorized("token expired") from None
    except (jwt.InvalidTokenError, jwt.PyJWKClientError):
        raise unauthorized("invalid token") from None
    roles = _roles(claims.get(settings.jwt_roles_claim))
    tenant = claims.get(settings.jwt_tenant_claim)
    if tenant is not None and not _is_claim_text(tenant):
        raise unauthorized("invalid tenant claim")
    subject = claims["sub"]
    if not _is_claim_text(subject):
        raise unauthorized("invalid subject claim")
    caller = Caller(subject=subject, tenant=tenant, roles=roles)
    if caller.tenant is None and not caller.is_admin:
        raise unauthorized("token names no tenant")
    return caller


async def current_caller(request: Request) -> Caller:
    settings: Settings = request.app.state.settings
    if settings.auth_mode == "disabled":
        return DEV_CALLER
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("missing bearer token")
    if settings.jwt_jwks_url:
        # The JWKS client fetches keys with blocking I/O (then caches them): not on the loop.
        caller = await asyncio.to_thread(caller_from_token, settings, token.strip())
    else:
        caller = caller_from_token(settings, token.strip())
    # Every log line of this request names the tenant (never the token).
    structlog.contextvars.bind_contextvars(tenant_id=caller.tenant)
    return caller


def require(role: str) -> Callable[..., Awaitable[Caller]]:
    async def dependency(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        if not caller.has(role):
            raise ApiError(403, "forbidden", f"this action needs the {role} role")
        return caller

    return dependency


def warn_if_disabled(settings: Settings) -> None:
    if settings.auth_mode == "disabled":
        banner = "!" * 72
        log.warning(
            "%s\nAUTHENTICATION IS DISABLED (AUTH_MODE=disabled): every caller is an admin of "
            "every tenant. Never run like this outside local development.\n%s",
            banner,
            banner,
        )
