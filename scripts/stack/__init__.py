"""Start a Model Trainer stack: the one bootstrap for the tests, the benchmarks and
`make dev` / `make demo` (`python -m scripts.stack`, see `__main__.py`).

Every part is an async context manager (or a class with `start`/`stop`), on a free
loopback port unless one is given, so concurrent stacks never collide:

    from scripts.stack import fresh_database, serve_app, temporal_dev_server

    async with (
        temporal_dev_server() as temporal,              # .address, .client (pydantic)
        fresh_database(f"my_bench_{os.getpid()}") as database_url,
        serve_app(create_openai_emulator(EmulatorSettings())) as openai_url,
        serve_app(create_registry_emulator()) as registry_url,
    ):
        settings = Settings(_env_file=None, database_url=database_url,
                            temporal_address=temporal.address, ...)
        async with (
            in_process_worker(temporal.client, settings),   # workflows + activities
            serve_app(create_app(settings)) as api_url,     # the REST API
        ):
            ...

- `fresh_database(name, server_url=None, migrate=False)`: an empty database on the server
  of `TEST_DATABASE_URL` (default postgres@127.0.0.1:5432), dropped after.
- `temporal_dev_server(port=None, db_file=None)`; `TemporalDevServer` to stop and start
  one again (a `db_file` keeps its state across restarts).
- `serve_app(app, port=None)`: any ASGI app (the API's or an emulator's `create_app`) in
  this event loop; `EmulatorProcess` / `emulator_process` run an emulator as a process.
- `in_process_worker(client, settings)`; `settings_env(settings)` is the environment that
  gives a `python worker.py` process the same stack (start it with `spawn`).
- `mint_token(secret, tenant, subject=...)`: an HS256 bearer token the API accepts.
- `free_port()`, `wait_for_port()`, `wait_for_http()`, `spawn()`, `Child`, `StackError`.
"""

from scripts.stack.auth import mint_token
from scripts.stack.processes import (
    HOST,
    Child,
    StackError,
    free_port,
    spawn,
    stop_all,
    temporal_binary,
    wait_for_port,
)
from scripts.stack.services import (
    EmulatorProcess,
    database_server_url,
    emulator_process,
    fresh_database,
    in_process_worker,
    recreate_database,
    serve_app,
    settings_env,
    wait_for_http,
    with_database,
)
from scripts.stack.temporal import TemporalDevServer, temporal_dev_server, wait_for_temporal

__all__ = [
    "HOST",
    "Child",
    "EmulatorProcess",
    "StackError",
    "TemporalDevServer",
    "database_server_url",
    "emulator_process",
    "free_port",
    "fresh_database",
    "in_process_worker",
    "mint_token",
    "recreate_database",
    "serve_app",
    "settings_env",
    "spawn",
    "stop_all",
    "temporal_binary",
    "temporal_dev_server",
    "wait_for_http",
    "wait_for_port",
    "wait_for_temporal",
    "with_database",
]
