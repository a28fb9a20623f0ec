"""A real S3-protocol server for tests: moto's standalone server on a free loopback port,
with the AWS variables pointed at dummy credentials (and away from any user config) for as
long as it runs.

    @pytest.fixture(scope="module")
    def s3() -> Iterator[LocalS3]:
        with local_s3_server(buckets=["artifacts"]) as server:
            yield server

moto keeps its buckets in process-wide memory, shared by every server this process starts,
so a test that needs a bucket of its own gives it a unique name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from tests.support.servers import free_port

# Dummy credentials, and no shared config or credentials file that could name a real account.
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@dataclass(frozen=True)
class LocalS3:
    endpoint_url: str
    buckets: tuple[str, ...]

    def client(self) -> Any:
        """A plain boto3 client on this server, for arranging and inspecting objects."""
        return boto3.client("s3", endpoint_url=self.endpoint_url)

    def create_bucket(self, name: str) -> None:
        try:
            self.client().create_bucket(Bucket=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") not in (
                "BucketAlreadyOwnedByYou",
                "BucketAlreadyExists",
            ):
                raise


@contextmanager
def local_s3_server(buckets: Iterable[str] = ()) -> Iterator[LocalS3]:
    """A running server with `buckets` created; stopped, and the environment restored, on
    exit. Worker processes started meanwhile inherit the AWS variables."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_TEST_ENV.items():
            env.setenv(name, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            s3 = LocalS3(endpoint_url=f"http://127.0.0.1:{port}", buckets=tuple(buckets))
            for bucket in s3.buckets:
                s3.create_bucket(bucket)
            yield s3
        finally:
            server.stop()
