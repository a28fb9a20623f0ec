"""The `trainer` subcommands, one module per area."""
