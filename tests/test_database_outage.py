"""PostgreSQL stopped under a running API: requests answer 503 with Retry-After (not 500),
and once the server is back the pool reconnects by itself."""

from __future__ import annotations

import glob
import shutil
import tempfile
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS
from tests.support.fault_stack import Postgres
from tests.support.servers import free_port, serve_app
from tests.support.waiting import wait_for

pytestmark = pytest.mark.skipif(
    not (shutil.which("pg_ctl") or glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")),
    reason="needs the PostgreSQL server binaries (initdb, pg_ctl) for a cluster of its own",
)


async def test_api_answers_503_while_postgres_is_down_and_recovers(settings: Settings) -> None:
    # A cluster of this test's own (in /tmp, which the postgres user can reach when the
    # suite runs as root): the shared server is never stopped.
    root = Path(tempfile.mkdtemp(prefix="trainer-pg-outage-"))
    postgres = Postgres(root / "pg", free_port())
    await postgres.start()
    try:
        own = settings.model_copy(update={"database_url": postgres.url("model_trainer")})
        async with (
            serve_app(create_app(own)) as url,
            httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS, timeout=30) as api,
        ):
            assert (await api.get("/trainer/jobs")).status_code == 200
            await postgres.stop("fast")
            down = await api.get("/trainer/jobs")
            assert down.status_code == 503, down.text
            assert down.json()["error_code"] == "database_unavailable"
            assert down.headers["Retry-After"] == "1"
            await postgres.start()

            async def answers() -> bool:
                return (await api.get("/trainer/jobs")).status_code == 200

            await wait_for(answers, 30, what="the API answering again")
    finally:
        if (postgres.data / "postmaster.pid").exists():
            await postgres.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
