"""Who is calling. Tenancy is enforced by filtering every query by the caller's tenant."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Caller:
    subject: str
    tenant: str | None  # None: may act on every tenant (admin)
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "trainer:admin" in self.roles

    def tenant_filter(self) -> str | None:
        return None if self.is_admin else self.tenant


DEV_CALLER = Caller(
    subject="dev",
    tenant=None,
    roles=frozenset({"trainer:read", "trainer:write", "trainer:admin"}),
)


async def current_caller() -> Caller:
    return DEV_CALLER
