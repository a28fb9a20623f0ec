"""Evaluation mechanics on the real stack: thresholds and promotion, judge failures, the
response cache, 429 storms, the rate-limit gate, contamination, custom suites (inline and
by URI), per-sample results, suite selection, `parallel` and `timeout`.

Suites built here carry a per-test nonce in every prompt, so no response cached by an
earlier test can stand in for the calls a test means to make.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from openai import AsyncOpenAI
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.evaluation.cache import request_key
from activities.evaluation.contamination import (
    TrainingFingerprints,
    contaminated_sample_ids,
    prompt_fingerprint,
)
from activities.evaluation.graders.judge import MALFORMED
from activities.evaluation.harness import run_suite
from activities.evaluation.ratelimit import RateLimitGate, parse_reset
from core.db import create_pool
from core.evaluation_suites import load_builtin_suite, suite_from_dict
from core.settings import Settings
from store.fingerprints import load_fingerprints, save_fingerprints
from tests.support.jobs import job_request, submit, wait_for_job
from tests.support.servers import serve_app

CHAT = "POST /v1/chat/completions"
MODERATION = "POST /v1/moderations"
FINAL = ("passed", "failed", "error")
ONLY_CUSTOM: dict[str, Any] = {"pedagogy_tests": [], "safety_tests": []}


# ---- helpers -------------------------------------------------------------------------------


def nonce() -> str:
    return uuid.uuid4().hex[:10]


def judged_suite(tag: str, n: int, *, category: str = "pedagogy") -> dict[str, Any]:
    """An inline suite whose every sample is graded by the judge (prompts unique to `tag`)."""
    return {
        "category": category,
        "graders": [{"type": "judge"}],
        "samples": [
            {
                "id": f"s{i:02d}",
                "messages": [
                    {"role": "user", "content": f"Question {tag}-{i}: what is {i} plus {i}?"}
                ],
                "key_points": [f"{i} plus {i} is {2 * i}"],
            }
            for i in range(n)
        ],
    }


def checked_suite(tag: str, n: int) -> dict[str, Any]:
    """Judge, moderation and refusal on every sample: three calls per sample and model."""
    body = judged_suite(tag, n, category="safety")
    body["graders"] = [{"type": "judge"}, {"type": "moderation"}, {"type": "refusal"}]
    for sample in body["samples"]:
        sample["expect"] = "answer"
    return body


async def calls(emulator: httpx.AsyncClient) -> dict[str, int]:
    state = (await emulator.get("/_emulator/state")).json()
    return {k: int(v) for k, v in state["calls"].items()}


async def add_fault(emulator: httpx.AsyncClient, **spec: Any) -> str:
    response = await emulator.post("/_emulator/faults", json=spec)
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


async def fault_injections(emulator: httpx.AsyncClient, fault_id: str) -> int:
    listed = (await emulator.get("/_emulator/faults")).json()
    rules = listed["faults"] if isinstance(listed, dict) else listed
    return next(int(r["injected"]) for r in rules if r["id"] == fault_id)


async def start(
    api: httpx.AsyncClient,
    job_id: str,
    harness_config: dict[str, Any],
    thresholds: dict[str, Any] | None = None,
) -> str:
    body = {
        "name": "mechanics",
        "harness_config": harness_config,
        "thresholds": thresholds or {},
    }
    response = await api.post(f"/trainer/jobs/{job_id}/evaluate", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def finished(api: httpx.AsyncClient, evaluation_id: str, timeout: float = 90.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        evaluation = (await api.get(f"/trainer/evaluations/{evaluation_id}")).json()
        if evaluation["status"] in FINAL:
            return evaluation
        assert asyncio.get_running_loop().time() < deadline, f"evaluation {evaluation['status']}"
        await asyncio.sleep(0.05)


async def evaluate(
    api: httpx.AsyncClient,
    job_id: str,
    harness_config: dict[str, Any],
    thresholds: dict[str, Any] | None = None,
) -> Any:
    return await finished(api, await start(api, job_id, harness_config, thresholds))


async def all_samples(
    api: httpx.AsyncClient, evaluation_id: str, role: str | None = None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 500}
    if role:
        params["role"] = role
    samples: list[dict[str, Any]] = []
    while True:
        page = (
            await api.get(
                f"/trainer/evaluations/{evaluation_id}/samples",
                params={**params, "offset": len(samples)},
            )
        ).json()
        samples += page["samples"]
        if len(samples) >= page["total"]:
            return samples


def suites_of(evaluation: dict[str, Any], key: str = "suites") -> dict[str, dict[str, Any]]:
    return {s["suite"]: s for s in evaluation["results"][key]}


def scored_mean(samples: list[dict[str, Any]]) -> float:
    scores = [s["score"] for s in samples if s["score"] is not None]
    return sum(scores) / len(scores)


@pytest.fixture(scope="module")
async def trained(api: httpx.AsyncClient) -> dict[str, Any]:
    """One job trained on the good tutor data, evaluated on demand by most tests here."""
    created = await submit(api, job_request(name="mechanics-good"))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job
    return job


@pytest.fixture(scope="module")
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    opened = await create_pool(settings.database_url, max_size=2)
    yield opened
    await opened.close()


# ---- thresholds and promotion --------------------------------------------------------------


async def test_unsafe_training_fails_safety_and_is_not_promoted(
    api: httpx.AsyncClient, registry: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    created = await submit(
        api,
        job_request(
            name="mechanics-unsafe",
            datasetUri="tutor-k12-unsafe.jsonl",
            policy={"thresholds": {"pedagogy_score": 0.6, "safety_score": 0.8}},
            # Its answers carry made-up personal data: claiming redaction would fail it.
            datasheet={"redaction": "none"},
        ),
    )
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job  # failing thresholds is not a job failure
    brief = job["evaluation"]
    assert brief["status"] == "failed" and brief["passed"] is False
    assert brief["safety_score"] is not None and brief["safety_score"] < 0.8
    evaluation = (await api.get(f"/trainer/jobs/{job['id']}/evaluation")).json()
    assert any(f.startswith("safety_score") for f in evaluation["results"]["failed_thresholds"])
    for suite in evaluation["results"]["suites"]:
        assert suite["errored"] == 0, suite  # a real verdict, not an error

    assert job["promotion"] is None
    bound: set[str] = set()
    for page in range(1, 1000):
        listed = (await registry.get("/bindings", params={"size": 100, "page": page})).json()
        bound |= {b["provider_model_id"] for b in listed["bindings"]}
        if len(listed["bindings"]) < 100:
            break
    assert trained["promotion"]["promoted"] is True  # the good job's model is bound...
    assert trained["providerModelId"] in bound
    assert job["providerModelId"] not in bound  # ...the unsafe one's is not


# ---- judge failures ------------------------------------------------------------------------


async def test_some_garbage_judge_replies_are_errored_samples_outside_the_mean(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    fault = await add_fault(
        emulator, path_prefix="/v1/chat/completions", mode="judge_garbage", rate=0.1
    )
    evaluation = await evaluate(
        api,
        trained["id"],
        {**ONLY_CUSTOM, "custom_tests": {"judged": judged_suite(nonce(), 20)}},
    )
    injected = await fault_injections(emulator, fault)
    assert injected >= 2
    assert evaluation["status"] != "error", evaluation  # ~10% errored is under the 20% limit
    # The request's own judged suite has no gold set: its judge is never silently trusted.
    judge_status = {s["suite"]: s["status"] for s in evaluation["results"]["judge"]["suites"]}
    assert judge_status == {"judged": "unknown"}
    everything = await all_samples(api, evaluation["id"])
    # Each garbage reply made exactly one sample errored (garbage is never cached or reused).
    assert sum(s["errored"] for s in everything) == injected
    for role, key in (("candidate", "suites"), ("baseline", "baseline_suites")):
        suite = suites_of(evaluation, key)["judged"]
        samples = [s for s in everything if s["role"] == role]
        errored = [s for s in samples if s["errored"]]
        assert suite["errored"] == len(errored)
        assert suite["passed"] + suite["failed"] == len(samples) - len(errored)
        assert suite["mean"] == pytest.approx(scored_mean(samples))
        for sample in errored:
            assert sample["score"] is None and sample["passed"] is None
            judge = next(v for v in sample["verdicts"] if v["grader"] == "judge")
            assert judge["errored"] is True and judge["rationale"] == MALFORMED


async def test_a_judge_that_only_returns_garbage_errors_the_evaluation_and_is_not_cached(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    config = {**ONLY_CUSTOM, "custom_tests": {"judged": judged_suite(nonce(), 10)}}
    fault = await add_fault(emulator, path_prefix="/v1/chat/completions", mode="judge_garbage")
    broken = await evaluate(api, trained["id"], config)
    assert await fault_injections(emulator, fault) == 20  # every judge call, both models
    assert broken["status"] == "error" and broken["passed"] is False
    assert "errored" in broken["error_message"]
    assert "pedagogy_score" not in broken and "overall_score" not in broken  # no score: absent
    suite = suites_of(broken)["judged"]
    assert (suite["errored"], suite["passed"], suite["failed"], suite["mean"]) == (10, 0, 0, None)
    samples = await all_samples(api, broken["id"])
    assert len(samples) == 20 and all(s["score"] is None and s["errored"] for s in samples)

    # Errors are never cached: with a sane judge the same evaluation asks the judge again
    # (and only the judge: the models' answers were fine and come from the cache).
    await emulator.delete("/_emulator/faults")
    before = await calls(emulator)
    healed = await evaluate(api, trained["id"], config)
    after = await calls(emulator)
    asked = after.get(CHAT, 0) - before.get(CHAT, 0)
    assert healed["status"] != "error"
    assert suites_of(healed)["judged"]["errored"] == 0
    # Both models may give the same answer, and then share one judge request.
    distinct = {(s["input"], s["output"]) for s in await all_samples(api, healed["id"])}
    assert len(distinct) <= asked <= 20


# ---- cache ---------------------------------------------------------------------------------


async def test_rerunning_an_evaluation_makes_no_provider_calls_and_scores_the_same(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    config = {
        "pedagogy_tests": ["content_accuracy"],
        "safety_tests": ["harmful_content"],
        "custom_tests": {"checked": checked_suite(nonce(), 8)},
    }
    before = await calls(emulator)
    first = await evaluate(api, trained["id"], config)
    middle = await calls(emulator)
    second = await evaluate(api, trained["id"], config)
    after = await calls(emulator)

    # The first run asked the provider (its custom prompts were new), the second nothing.
    # (each model answered each new prompt; identical judge or moderation requests, e.g.
    # for equal answers, are made once)
    assert middle[CHAT] - before.get(CHAT, 0) > 2 * 8
    assert middle[MODERATION] - before.get(MODERATION, 0) > 0
    assert after.get(CHAT) == middle.get(CHAT)
    assert after.get(MODERATION) == middle.get(MODERATION)

    assert first["status"] in ("passed", "failed")
    for key in ("status", "pedagogy_score", "safety_score", "overall_score", "passed"):
        assert second[key] == first[key], key
    assert second["results"]["suites"] == first["results"]["suites"]
    assert second["results"]["baseline_suites"] == first["results"]["baseline_suites"]
    assert second["results"]["deltas"] == first["results"]["deltas"]

    def by_key(samples: list[dict[str, Any]]) -> dict[tuple[str, str, str], Any]:
        return {
            (s["role"], s["suite"], s["sample_id"]): (s["output"], s["score"], s["verdicts"])
            for s in samples
        }

    assert by_key(await all_samples(api, second["id"])) == by_key(
        await all_samples(api, first["id"])
    )


def test_cache_key_covers_model_input_and_params_but_not_key_order() -> None:
    params = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    same = {"temperature": 0, "messages": [{"content": "hi", "role": "user"}], "model": "m"}
    assert request_key("chat", params) == request_key("chat", same)
    assert len(request_key("chat", params)) == 32
    for changed in (
        {**params, "model": "m2"},
        {**params, "messages": [{"role": "user", "content": "hi!"}]},
        {**params, "seed": 7},
        {**params, "response_format": {"type": "json_object"}},
    ):
        assert request_key("chat", changed) != request_key("chat", params)
    assert request_key("moderation", params) != request_key("chat", params)


# ---- rate limits ---------------------------------------------------------------------------


@pytest.fixture
async def slow_chat(emulator: httpx.AsyncClient) -> AsyncIterator[None]:
    before = (await emulator.get("/_emulator/settings")).json()["chat_latency_seconds"]
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": 0.05})
    yield
    await emulator.patch("/_emulator/settings", json={"chat_latency_seconds": before})


@pytest.mark.usefixtures("slow_chat")
async def test_a_429_storm_finishes_with_every_sample_graded(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    fault = await add_fault(emulator, path_prefix="/v1/", status=429, retry_after=1, rate=0.1)
    evaluation = await evaluate(
        api,
        trained["id"],
        {**ONLY_CUSTOM, "custom_tests": {"storm": checked_suite(nonce(), 30)}},
    )
    # At least 30 x 2 answers, 30 judge and 30 moderation calls: one in ten was refused.
    assert await fault_injections(emulator, fault) >= 12
    assert evaluation["status"] in ("passed", "failed"), evaluation
    for suite in evaluation["results"]["suites"] + evaluation["results"]["baseline_suites"]:
        assert suite["errored"] == 0, suite
        assert suite["passed"] + suite["failed"] == suite["n"] == 30
    samples = await all_samples(api, evaluation["id"])
    assert len(samples) == 60
    assert all(s["output"] and s["score"] is not None for s in samples)


def test_rate_limit_reset_headers_parse() -> None:
    assert parse_reset("1s") == 1.0
    assert parse_reset("6m0s") == 360.0
    assert parse_reset("1h2m3.5s") == pytest.approx(3723.5)
    assert parse_reset("20ms") == pytest.approx(0.02)
    assert parse_reset("0.5") == 0.5
    for bad in (None, "", "soon", "1x", "1s junk"):
        assert parse_reset(bad) is None


def test_rate_limit_gate_closes_only_on_a_spent_budget() -> None:
    now = [100.0]
    gate = RateLimitGate(max_pause_seconds=30, clock=lambda: now[0])
    assert gate.observe({"x-ratelimit-remaining-requests": "12"}) == 0
    assert gate.remaining_pause() == 0
    pause = gate.observe({"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.5s"})
    assert pause == 1.5 and gate.remaining_pause() == 1.5
    assert (
        gate.observe({"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "6m0s"})
        == 30
    )  # capped
    now[0] += 31
    assert gate.remaining_pause() == 0 and gate.pauses == 2


async def test_calls_wait_for_the_reset_when_the_request_budget_is_spent() -> None:
    """A provider that says 'no requests left for 0.6 s' on its first answer: every later
    call reaches it only after the reset, through the real SDK and HTTP."""
    arrivals: list[float] = []
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        body = await request.json()
        arrivals.append(time.monotonic())
        first = len(arrivals) == 1
        payload = {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "It is 4."},
                }
            ],
        }
        headers = {
            "x-ratelimit-remaining-requests": "0" if first else "100",
            "x-ratelimit-reset-requests": "600ms" if first else "1s",
        }
        return JSONResponse(payload, headers=headers)

    suite = suite_from_dict(
        {
            "name": "gate",
            "graders": [{"type": "numeric"}],
            "samples": [
                {"id": f"g{i}", "messages": [{"role": "user", "content": f"q{i}"}],
                 "numeric_answer": 4}
                for i in range(6)
            ],
        }
    )  # fmt: skip
    async with serve_app(app) as url:
        client = AsyncOpenAI(api_key="sk-test", base_url=f"{url}/v1", max_retries=0)
        gate = RateLimitGate()
        run = await run_suite(client, suite, "m", judge_model="j", concurrency=1, gate=gate)
        await client.close()
    assert run.score.passed == 6 and gate.pauses == 1
    assert arrivals[1] - arrivals[0] >= 0.55  # waited for the reset, not for luck
    assert all(b - a < 0.5 for a, b in itertools.pairwise(arrivals[1:]))


# ---- contamination -------------------------------------------------------------------------


def test_fingerprints_normalise_and_read_chat_and_preference_records() -> None:
    assert prompt_fingerprint("How many sides does a HEXAGON have?!") == prompt_fingerprint(
        "  how many sides does a hexagon have "
    )
    assert prompt_fingerprint("a hexagon") != prompt_fingerprint("a pentagon")
    assert -(2**63) <= prompt_fingerprint("x") < 2**63
    collector = TrainingFingerprints()
    collector.add_example(
        {"messages": [{"role": "system", "content": "tutor"},
                      {"role": "user", "content": "First question?"},
                      {"role": "assistant", "content": "a"},
                      {"role": "user", "content": [{"type": "text", "text": "Second one?"}]},
                      {"role": "assistant", "content": "b"}]}
    )  # fmt: skip
    collector.add_example(
        {"input": {"messages": [{"role": "user", "content": "Preference prompt"}]},
         "preferred_output": [{"role": "assistant", "content": "y"}],
         "non_preferred_output": [{"role": "assistant", "content": "n"}]}
    )  # fmt: skip
    collector.add_example({"messages": "not a list"})
    assert collector.fingerprints == {
        prompt_fingerprint(t) for t in ("first question", "second one", "preference prompt")
    }
    suite = load_builtin_suite("content_accuracy")
    assert contaminated_sample_ids(suite, collector.fingerprints) == set()


def training_line(question: str, answer: str) -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": question},
                      {"role": "assistant", "content": answer}]}
    )  # fmt: skip


async def test_eval_samples_seen_in_training_are_flagged_and_excluded(
    api: httpx.AsyncClient, pool: asyncpg.Pool, dataset_root: Path
) -> None:
    suite = load_builtin_suite("content_accuracy")
    leaked, shouted = suite.samples[0], suite.samples[1]
    # Written where datasets live; the job trains on it through the normal pipeline.
    lines = [
        training_line(leaked.prompt, "A hexagon has six sides."),
        # Same question, different case and punctuation: still the same prompt.
        training_line(shouted.prompt.upper().rstrip("?") + " ??", "Light, water and air."),
    ]
    lines += [training_line(f"Can you help me with practice problem {i}?",
                            f"Sure! Let us work through problem {i} step by step.")
              for i in range(10)]  # fmt: skip
    name = f"contaminated-{nonce()}.jsonl"
    (dataset_root / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    created = await submit(api, job_request(name="mechanics-contaminated", datasetUri=name))
    job = await wait_for_job(api, created["id"])
    assert job["status"] == "completed", job

    # The validate step fingerprinted every training prompt, and nothing else.
    collector = TrainingFingerprints()
    for line in lines:
        collector.add_example(json.loads(line))
    assert len(collector) == 12
    assert await load_fingerprints(pool, job["id"]) == collector.fingerprints

    # The pipeline's own evaluation ran content_accuracy (a default suite) with them.
    evaluation = (await api.get(f"/trainer/jobs/{job['id']}/evaluation")).json()
    assert evaluation["name"] == "training-evaluation"
    for key in ("suites", "baseline_suites"):  # the baseline skips them too: paired deltas
        score = suites_of(evaluation, key)["content_accuracy"]
        assert score["contaminated"] == 2
        assert score["passed"] + score["failed"] + score["errored"] == score["n"] - 2
    for other, score in suites_of(evaluation).items():
        assert other == "content_accuracy" or score["contaminated"] == 0
    samples = await all_samples(api, evaluation["id"], "candidate")
    flagged = {s["sample_id"]: s for s in samples if s["contaminated"]}
    assert set(flagged) == {leaked.id, shouted.id}
    assert all(s["score"] is None and not s["errored"] for s in flagged.values())
    for sample in flagged.values():
        assert sample["output"] is None and sample["verdicts"] == []
        assert "overlaps the training data" in sample["error"]
    accuracy = [s for s in samples if s["suite"] == "content_accuracy"]
    assert suites_of(evaluation)["content_accuracy"]["mean"] == pytest.approx(scored_mean(accuracy))


async def test_fingerprints_are_replaced_not_accumulated(
    pool: asyncpg.Pool, trained: dict[str, Any]
) -> None:
    """A retried validate step stores its own set, never the union with a stale one."""
    job_id = trained["id"]
    kept = await load_fingerprints(pool, job_id)
    try:
        assert await save_fingerprints(pool, job_id, [1, 2, 2, 3]) == 3
        assert await save_fingerprints(pool, job_id, [3, -(2**63), 2**63 - 1]) == 3
        assert await load_fingerprints(pool, job_id) == {3, -(2**63), 2**63 - 1}
        assert await save_fingerprints(pool, job_id, []) == 0
        assert await load_fingerprints(pool, job_id) == set()
    finally:
        await save_fingerprints(pool, job_id, kept)


# ---- custom suites, selection, per-sample results -------------------------------------------


async def test_custom_suites_inline_and_by_uri_run_beside_the_selected_suites(
    api: httpx.AsyncClient, pool: asyncpg.Pool, dataset_root: Path, trained: dict[str, Any]
) -> None:
    tag = nonce()
    jsonl = dataset_root / f"suite-{tag}.jsonl"
    jsonl.write_text(
        "\n".join(json.dumps(s) for s in judged_suite(f"{tag}-jsonl", 4)["samples"]) + "\n",
        encoding="utf-8",
    )
    yaml_file = dataset_root / f"suite-{tag}.yaml"
    yaml_file.write_text(
        yaml.safe_dump({"description": "from a file", **checked_suite(f"{tag}-yaml", 3)}),
        encoding="utf-8",
    )
    config = {
        "pedagogy_tests": ["learning_objectives"],
        "safety_tests": [],
        "custom_tests": {
            "inline-suite": judged_suite(f"{tag}-inline", 3),
            "jsonl-suite": {"uri": jsonl.name, "category": "pedagogy",
                            "graders": [{"type": "judge"}, {"type": "pii"}]},
            "yaml-suite": {"uri": yaml_file.as_uri(), "category": "safety"},
        },
    }  # fmt: skip
    evaluation = await evaluate(api, trained["id"], config)
    assert evaluation["status"] in ("passed", "failed"), evaluation
    suites = suites_of(evaluation)
    assert set(suites) == {"learning_objectives", "inline-suite", "jsonl-suite", "yaml-suite"}
    assert set(suites_of(evaluation, "baseline_suites")) == set(suites)
    assert (suites["inline-suite"]["n"], suites["jsonl-suite"]["n"], suites["yaml-suite"]["n"]) \
        == (3, 4, 3)  # fmt: skip
    assert suites["yaml-suite"]["category"] == "safety"
    assert suites["jsonl-suite"]["category"] == "pedagogy"

    samples = await all_samples(api, evaluation["id"], "candidate")
    assert {s["suite"] for s in samples} == set(suites)
    graders = {s["suite"]: {v["grader"] for v in s["verdicts"]} for s in samples}
    assert graders["jsonl-suite"] == {"judge", "pii"}  # the entry's graders
    assert graders["yaml-suite"] == {"judge", "moderation", "refusal"}  # the file's
    for sample in samples:
        assert sample["model"] == trained["providerModelId"]
        assert isinstance(sample["input"], str) and sample["input"]
        assert isinstance(sample["output"], str) and sample["output"]
        assert sample["verdicts"], sample
        for verdict in sample["verdicts"]:
            assert verdict["rationale"] and verdict["grader"]
            assert verdict["score"] is not None or verdict["errored"]
    yaml_inputs = {s["input"] for s in samples if s["suite"] == "yaml-suite"}
    assert yaml_inputs == {f"Question {tag}-yaml-{i}: what is {i} plus {i}?" for i in range(3)}

    # What ran is recorded: the fetched file's hash, once per evaluation.
    rows = await pool.fetch(
        "SELECT name, sha256 FROM evaluation_custom_suites WHERE evaluation_id = $1",
        evaluation["id"],
    )
    assert {r["name"]: r["sha256"] for r in rows} == {
        "jsonl-suite": hashlib.sha256(jsonl.read_bytes()).hexdigest(),
        "yaml-suite": hashlib.sha256(yaml_file.read_bytes()).hexdigest(),
    }


async def test_a_custom_suite_uri_that_cannot_be_read_errors_the_evaluation(
    api: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    evaluation = await evaluate(
        api,
        trained["id"],
        {**ONLY_CUSTOM, "custom_tests": {"gone": {"uri": f"missing-{nonce()}.jsonl"}}},
    )
    assert evaluation["status"] == "error"
    assert "harness_config.custom_tests.gone" in evaluation["error_message"]


@pytest.mark.parametrize(
    ("entry", "mentions"),
    [
        ({"uri": "ftp://example.com/suite.jsonl"}, "scheme 'ftp'"),
        ({"uri": "s3://bucket-only"}, "bucket and a key"),
        ({"uri": "suite.csv"}, ".jsonl"),
        ({"uri": "suite.jsonl", "colour": "red"}, "colour"),
        ({"uri": "suite.jsonl", "category": "fun"}, "category"),
    ],
)
async def test_custom_suite_uris_are_checked_at_submit(
    api: httpx.AsyncClient, trained: dict[str, Any], entry: dict[str, Any], mentions: str
) -> None:
    response = await api.post(
        f"/trainer/jobs/{trained['id']}/evaluate",
        json={"name": "bad", "thresholds": {},
              "harness_config": {"custom_tests": {"mine": entry}}},
    )  # fmt: skip
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error_code"] == "invalid_custom_suite"
    assert body["detail"].startswith("harness_config.custom_tests.mine")
    assert mentions in body["detail"]


# ---- parallel and timeout ------------------------------------------------------------------


async def suite_activity_spans(
    temporal_client: Client, evaluation_id: str
) -> list[tuple[float, float]]:
    """(started, completed) of every run_evaluation_suite activity, from the history."""
    handle = temporal_client.get_workflow_handle(f"evaluation-{evaluation_id}")
    history = await handle.fetch_history()
    scheduled: dict[int, bool] = {}
    started: dict[int, float] = {}
    spans = []
    for event in history.events:
        at = event.event_time.ToDatetime().timestamp()
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = attrs.activity_type.name == "run_evaluation_suite"
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.activity_task_started_event_attributes.scheduled_event_id] = at
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = event.activity_task_completed_event_attributes.scheduled_event_id
            if scheduled[sid]:
                spans.append((started[sid], at))
    return spans


@pytest.mark.usefixtures("slow_chat")
@pytest.mark.parametrize("parallel", [True, False])
async def test_parallel_flag_decides_whether_suites_overlap(
    api: httpx.AsyncClient, temporal_client: Client, trained: dict[str, Any], parallel: bool
) -> None:
    tag = nonce()
    config = {
        **ONLY_CUSTOM,
        "parallel": parallel,
        "custom_tests": {
            "first": judged_suite(f"{tag}-a", 4),
            "second": judged_suite(f"{tag}-b", 4),
        },
    }
    evaluation = await evaluate(api, trained["id"], config)
    assert evaluation["status"] in ("passed", "failed"), evaluation
    spans = sorted(await suite_activity_spans(temporal_client, evaluation["id"]))
    assert len(spans) == 4  # two suites, candidate and baseline
    overlaps = [b[0] < a[1] for a, b in itertools.pairwise(spans)]
    if parallel:
        assert all(overlaps), spans
    else:
        assert not any(overlaps), spans


async def test_timeout_bounds_the_whole_evaluation(
    api: httpx.AsyncClient, emulator: httpx.AsyncClient, trained: dict[str, Any]
) -> None:
    # Every chat call now hangs longer than the evaluation may take.
    await add_fault(emulator, path_prefix="/v1/chat/completions", delay_seconds=12)
    began = time.monotonic()
    evaluation = await evaluate(
        api,
        trained["id"],
        {**ONLY_CUSTOM, "timeout": 10, "custom_tests": {"slow": judged_suite(nonce(), 2)}},
    )
    took = time.monotonic() - began
    assert evaluation["status"] == "error"
    assert "harness_config.timeout (10s)" in evaluation["error_message"]
    assert took < 18, took  # bounded by the timeout, not by retries of a timed-out suite
