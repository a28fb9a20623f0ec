"""A training job whose dataset lives in an S3-compatible store (moto's standalone server),
end to end; a bucket outside the allowlist is refused before any provider call."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from api.app import create_app
from core.settings import Settings
from tests.conftest import ADMIN_HEADERS, EXAMPLE_DATASETS
from tests.support.jobs import job_request, provider_jobs_for, submit, wait_for_job
from tests.support.servers import free_port, serve_app
from tests.support.workers import WorkerProcesses

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        url = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=url)
        body = (EXAMPLE_DATASETS / "tutor-k12-good.jsonl").read_bytes()
        for bucket in ("curriculum", "elsewhere"):
            client.create_bucket(Bucket=bucket)
            client.put_object(Bucket=bucket, Key="k12/tutor.jsonl", Body=body)
        try:
            yield url
        finally:
            server.stop()


async def test_job_trains_on_an_s3_dataset_and_refuses_other_buckets(
    settings: Settings,
    emulator: httpx.AsyncClient,
    worker_processes: WorkerProcesses,
    s3_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    isolated = settings.model_copy(
        update={
            "temporal_task_queue": f"s3-{uuid.uuid4().hex[:8]}",
            "s3_endpoint_url": s3_endpoint,
            "dataset_allowed_prefixes": ["s3://curriculum/k12/"],
        }
    )
    for name, value in {
        **AWS_ENV,
        "S3_ENDPOINT_URL": s3_endpoint,
        "DATASET_ALLOWED_PREFIXES": json.dumps(isolated.dataset_allowed_prefixes),
    }.items():
        monkeypatch.setitem(os.environ, name, value)  # the worker process inherits these
    await worker_processes.start(isolated)
    async with (
        serve_app(create_app(isolated)) as url,
        httpx.AsyncClient(base_url=url, headers=ADMIN_HEADERS) as api,
    ):
        good = await submit(
            api, job_request(name="from-s3", datasetUri="s3://curriculum/k12/tutor.jsonl")
        )
        other = await submit(
            api, job_request(name="other-bucket", datasetUri="s3://elsewhere/k12/tutor.jsonl")
        )
        done = await wait_for_job(api, good["id"], timeout=120)
        refused = await wait_for_job(api, other["id"], timeout=60)
    assert done["status"] == "completed", done.get("errorMessage")
    assert (
        done["validation"]["file"]["bytes"]
        == (EXAMPLE_DATASETS / "tutor-k12-good.jsonl").stat().st_size
    )
    assert refused["status"] == "failed"
    assert refused["errorCode"] == "dataset_access_denied"
    assert await provider_jobs_for(emulator, refused["id"]) == []
