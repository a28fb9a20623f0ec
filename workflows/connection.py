"""Connecting to Temporal the same way from the API, the worker, tests and benchmarks."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from workflows.search_attributes import ALL_KEYS


async def connect(address: str, namespace: str, runtime: Runtime | None = None) -> Client:
    """`runtime` carries the SDK's telemetry (e.g. its Prometheus endpoint); None: default."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter, runtime=runtime
    )


def search_attribute_cli_args() -> list[str]:
    """`temporal server start-dev` arguments that register our search attributes."""
    args: list[str] = []
    for key in ALL_KEYS:
        args += ["--search-attribute", f"{key.name}=Keyword"]
    return args
