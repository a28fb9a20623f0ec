"""Which route template a request will reach, known before routing runs (for call counts)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


class RouteTable:
    """The routes of some routers, flat, in the order the app tries them."""

    def __init__(self, routers: Iterable[APIRouter]) -> None:
        self.routes: list[BaseRoute] = [route for router in routers for route in router.routes]

    def templates(self, scope: Scope) -> tuple[str | None, str | None]:
        """(template of the route that serves this request, of the first one whose path fits
        but whose method does not)."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return getattr(route, "path", None), partial
            if match == Match.PARTIAL and partial is None:
                partial = getattr(route, "path", None)
        return None, partial
