"""One command's connection to the API and its output, with failures turned into a
message on stderr and the matching exit code (never a traceback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console, RenderableType
from rich.markup import escape

from cli.client import TrainerApi
from cli.errors import CliError

DEFAULT_API_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class GlobalOptions:
    api_url: str = DEFAULT_API_URL
    token: str | None = None
    json: bool = False


@dataclass
class Session:
    api: TrainerApi
    json: bool
    out: Console
    err: Console

    def emit_json(self, data: Any) -> None:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))

    def show(self, *renderables: RenderableType) -> None:
        self.out.print(*renderables)


def report(err_console: Console, error: CliError) -> None:
    err_console.print(f"[bold red]error:[/] {escape(error.message)}", highlight=False)
    for line in error.details:
        err_console.print(f"  {escape(line)}", highlight=False)


@contextmanager
def open_session(ctx: typer.Context, json_output: bool = False) -> Iterator[Session]:
    options = ctx.obj if isinstance(ctx.obj, GlobalOptions) else GlobalOptions()
    err = Console(stderr=True)
    try:
        with TrainerApi(options.api_url, options.token) as api:
            yield Session(api=api, json=options.json or json_output, out=Console(), err=err)
    except CliError as error:
        report(err, error)
        raise typer.Exit(error.exit_code) from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        report(err, CliError(f"the API answered with an unexpected body ({where}: {first['msg']})"))
        raise typer.Exit(1) from None
