"""`python -m cli` runs the `trainer` command."""

from cli.main import app

app(prog_name="trainer")
