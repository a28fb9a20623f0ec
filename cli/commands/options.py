"""Option and argument types shared by several commands."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer


def _job_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a job id (a UUID)") from None


JobId = Annotated[
    str,
    typer.Argument(help="The job's id", metavar="ID", show_default=False, callback=_job_id),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of tables")]
Interval = Annotated[
    float,
    typer.Option("--interval", min=0.1, max=600.0, help="Seconds between polls of the API"),
]
