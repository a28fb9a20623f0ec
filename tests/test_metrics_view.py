"""Training curves of a finished job over REST: the points as JSON, and the chart as SVG/PNG."""

from __future__ import annotations

import io
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from api.training_curves import Chart, ImageFormat, MetricPoint, draw, smoothed
from tests.support.jobs import job_request, submit, wait_for_job

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG_ROOT = "{http://www.w3.org/2000/svg}svg"


@pytest.fixture(scope="module")
async def finished_job(api: httpx.AsyncClient) -> dict[str, Any]:
    created = await submit(api, job_request(name="curves-for-a-slide"))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job
    return job


async def test_metrics_have_one_point_per_step(
    api: httpx.AsyncClient, finished_job: dict[str, Any]
) -> None:
    response = await api.get(f"/trainer/jobs/{finished_job['id']}/metrics")
    assert response.status_code == 200, response.text
    body = response.json()
    total = finished_job["progress"]["total_steps"]
    assert body["job_id"] == finished_job["id"]
    assert body["total_steps"] == total
    assert [p["step"] for p in body["points"]] == list(range(1, total + 1))
    first, last = body["points"][0], body["points"][-1]
    assert set(first) == {
        "step",
        "train_loss",
        "valid_loss",
        "train_accuracy",
        "valid_accuracy",
        "learning_rate",
        "epoch",
    }
    # The emulator reports no learning rate or epoch, as OpenAI does not.
    assert first["learning_rate"] is None and first["epoch"] is None
    assert all(p["train_loss"] > 0 for p in body["points"])
    assert all(0 < p["train_accuracy"] < 1 for p in body["points"])
    # The emulator's curves fall (loss) and rise (accuracy) over the run.
    assert last["train_loss"] < first["train_loss"]
    assert last["train_accuracy"] > first["train_accuracy"]
    assert last["train_loss"] == finished_job["progress"]["train_loss"]


async def test_svg_chart_is_an_svg_document(
    api: httpx.AsyncClient, finished_job: dict[str, Any]
) -> None:
    response = await api.get(f"/trainer/jobs/{finished_job['id']}/metrics.svg")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    root = ET.fromstring(response.content)
    assert root.tag == SVG_ROOT
    assert float(root.attrib["width"].removesuffix("pt")) > 300


async def test_png_chart_is_a_png_image(
    api: httpx.AsyncClient, finished_job: dict[str, Any], tmp_path: Path
) -> None:
    response = await api.get(f"/trainer/jobs/{finished_job['id']}/metrics.png")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(PNG_SIGNATURE)
    (tmp_path / "metrics.png").write_bytes(response.content)
    with Image.open(io.BytesIO(response.content)) as image:
        image.verify()
    with Image.open(io.BytesIO(response.content)) as image:
        width, height = image.size
    assert width >= 1200 and 0.5 < height / width < 0.8


async def test_a_job_without_metrics_still_draws(api: httpx.AsyncClient) -> None:
    created = await submit(api, job_request(name="no-curves-yet", datasetUri="missing.jsonl"))
    job = await wait_for_job(api, created["id"], until={"failed"})
    metrics = (await api.get(f"/trainer/jobs/{job['id']}/metrics")).json()
    assert metrics["points"] == []
    response = await api.get(f"/trainer/jobs/{job['id']}/metrics.png")
    assert response.status_code == 200
    assert response.content.startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("suffix", ["", ".svg", ".png"])
async def test_unknown_job_is_404(api: httpx.AsyncClient, suffix: str) -> None:
    response = await api.get(f"/trainer/jobs/{uuid.uuid4()}/metrics{suffix}")
    assert response.status_code == 404
    assert response.json()["error_code"] == "training_job_not_found"


def test_names_with_dollar_signs_draw_as_text() -> None:
    points = [
        MetricPoint(
            step=s, train_loss=2.0 / s, valid_loss=2.2 / s, train_accuracy=0.5, valid_accuracy=0.45
        )
        for s in range(1, 41)
    ]
    chart = Chart(
        title="budget $5 and $x^2$ run",
        subtitle="ft:model $_{1}$",
        points=points,
        total_steps=40,
        epochs=4,
    )
    svg = draw(chart, ImageFormat.svg)
    assert ET.fromstring(svg).tag == SVG_ROOT
    assert draw(chart, ImageFormat.png).startswith(PNG_SIGNATURE)


def test_smoothing_keeps_the_level_and_does_not_lag() -> None:
    falling = [10.0 - 0.1 * i for i in range(100)]
    curve = smoothed(falling)
    assert len(curve) == len(falling)
    assert all(abs(a - b) < 0.05 for a, b in zip(curve[10:-10], falling[10:-10], strict=True))
    assert smoothed([3.0] * 7) == [3.0] * 7
