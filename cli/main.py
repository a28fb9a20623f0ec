"""`trainer`: submit, follow, review and promote fine-tuning jobs from a terminal.

Talks only to the service's REST API, but for `calibrate-judge`, which calls the
deployment's judge itself. Exit codes: 0 success; 1 the API answered with an
error; 2 usage error; 3 the API could not be reached; 4 the job (or evaluation, dataset,
promotion) ended unsuccessfully.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.commands import calibration, datasets, jobs, review
from cli.session import DEFAULT_API_URL, GlobalOptions

EPILOG = (
    "Exit codes: 0 ok · 1 API error · 2 usage error · 3 API unreachable · "
    "4 job, evaluation, promotion or dataset unsuccessful"
)

app = typer.Typer(
    name="trainer",
    help="Submit, follow, review and promote fine-tuning jobs of the Model Trainer Service.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def main(
    ctx: typer.Context,
    api_url: Annotated[
        str,
        typer.Option("--api-url", envvar="TRAINER_API_URL", help="Base URL of the trainer API"),
    ] = DEFAULT_API_URL,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="TRAINER_TOKEN",
            show_default=False,
            help="Bearer token (JWT) sent as Authorization",
        ),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable output: the API's JSON")
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(api_url=api_url, token=token or None, json=json_output)


app.command("submit")(jobs.submit)
app.command("list")(jobs.list_jobs)
app.command("show")(jobs.show)
app.command("watch")(jobs.watch)
app.command("cancel")(jobs.cancel)
app.command("approve")(review.approve)
app.command("reject")(review.reject)
app.command("evaluate")(review.evaluate)
app.command("promote")(review.promote)
app.command("validate")(datasets.validate)
app.command("calibrate-judge")(calibration.calibrate_judge)
