"""validate: check a dataset (and its datasheet) before submitting a job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.commands.options import JsonFlag
from cli.errors import EXIT_JOB_UNSUCCESSFUL
from cli.files import load_json_object
from cli.render import validation_view
from cli.session import open_session


def validate(
    ctx: typer.Context,
    uri: Annotated[
        str, typer.Argument(help="The dataset's URI (as in a job's datasetUri)", show_default=False)
    ],
    base_model: Annotated[
        str | None, typer.Option("--base-model", help="Also check token limits of this model")
    ] = None,
    datasheet: Annotated[
        Path | None,
        typer.Option(
            "--datasheet",
            exists=True,
            dir_okay=False,
            readable=True,
            help="The datasheet (JSON) to check along with the data",
        ),
    ] = None,
    json_output: JsonFlag = False,
) -> None:
    """Validate a dataset and print its report; exits 4 when it has errors."""
    with open_session(ctx, json_output) as session:
        sheet = load_json_object(datasheet) if datasheet else None
        raw = session.api.validate_dataset(uri, base_model, sheet)
        report = raw if isinstance(raw, dict) else {}
        if session.json:
            session.emit_json(raw)
        else:
            session.show(validation_view(report))
        dataset = report.get("dataset")
        ok = report.get("ok", dataset.get("ok") if isinstance(dataset, dict) else None)
        if ok is False:
            raise typer.Exit(EXIT_JOB_UNSUCCESSFUL)
