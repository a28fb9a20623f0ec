"""calibrate-judge: run the deployment's rubric judge over the gold sets, from this machine.

Unlike the other commands it does not go through the REST API: it reads the deployment's
settings (environment or `.env`: the `eval_judge_*` settings and the database) and calls
the judge the way the evaluation workers do, so it needs the worker package installed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.session import GlobalOptions

Suites = Annotated[
    list[str] | None,
    typer.Option("--suite", help="A model-graded suite (repeatable; default: all of them)"),
]
NoStore = Annotated[
    bool,
    typer.Option("--no-store", help="Use no database: no cache, nothing recorded"),
]


def calibrate_judge(
    ctx: typer.Context,
    suite: Suites = None,
    no_store: NoStore = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Report the judge's agreement, Cohen's kappa and confusion matrix per suite.

    Exit 0 when every suite is calibrated, 4 when one is below the agreement floor."""
    # Imported here: the other commands need only the API client, not the worker code.
    from activities.evaluation.calibration import main

    options = ctx.obj if isinstance(ctx.obj, GlobalOptions) else None
    argv = [arg for name in suite or [] for arg in ("--suite", name)]
    if no_store:
        argv.append("--no-store")
    if json_output or (options is not None and options.json):
        argv.append("--json")
    raise typer.Exit(main(argv))
