"""The OpenAI emulator, driven over real HTTP by the official `openai` SDK.

Admin calls (`/_emulator/...`) are not part of OpenAI's API, so they go through httpx.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar

import httpx
import openai
import pytest
from openai.types.shared_params import ResponseFormatJSONSchema
from pydantic import BaseModel

from emulators.openai_emulator.app import create_app
from emulators.openai_emulator.settings import EmulatorSettings
from tests.support.servers import serve_app

FAST = EmulatorSettings(
    seconds_per_step=0.004,
    validation_seconds=0.02,
    queue_seconds=0.02,
    max_steps=60,
)
TERMINAL = {"succeeded", "failed", "cancelled"}
M = TypeVar("M", bound=BaseModel)

QA = [
    (
        "How do volcanoes form along tectonic plate boundaries?",
        "Magma rises through cracks where tectonic plates separate or collide.",
    ),
    (
        "Why is ocean water salty?",
        "Rivers carry dissolved minerals into the sea and evaporation leaves the salt behind.",
    ),
    (
        "What causes a rainbow after a storm?",
        "Sunlight is refracted and reflected inside raindrops, splitting into colours.",
    ),
    (
        "How do bees make honey from flower nectar?",
        "Bees swallow nectar, add enzymes and fan it with their wings until it thickens.",
    ),
    (
        "Why do leaves change colour in autumn?",
        "Chlorophyll breaks down, revealing yellow and orange pigments already in the leaf.",
    ),
    (
        "How does a compass needle find north?",
        "The magnetised needle aligns with the magnetic field of the Earth.",
    ),
    (
        "What makes thunder so loud during lightning?",
        "Lightning heats the air so quickly that it expands explosively, creating a shock wave.",
    ),
    (
        "Why do cats purr when they are content?",
        "Cats purr by vibrating muscles in the larynx, often to signal comfort.",
    ),
    (
        "How do plants drink water through roots?",
        "Roots absorb water by osmosis and it travels up through xylem vessels.",
    ),
    (
        "Why does bread dough rise with yeast?",
        "Yeast ferments sugars and releases carbon dioxide bubbles that stretch the dough.",
    ),
    (
        "How do penguins stay warm in antarctic winters?",
        "Penguins huddle together and rely on dense feathers over a layer of fat.",
    ),
    (
        "What keeps satellites orbiting the planet?",
        "Their sideways speed balances the pull of gravity, so they keep falling around Earth.",
    ),
]

GRADE_FORMAT: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {
        "name": "grade",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "score": {"type": "number"},
                "passed": {"type": "boolean"},
                "rationale": {"type": "string"},
            },
            "required": ["score", "passed", "rationale"],
            "additionalProperties": False,
        },
    },
}


# ---- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def base_url() -> AsyncIterator[str]:
    async with serve_app(create_app(FAST)) as url:
        yield url


@pytest.fixture
async def admin(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.post("/_emulator/reset")
        response.raise_for_status()
        yield client


@pytest.fixture
async def client(base_url: str, admin: httpx.AsyncClient) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="test", max_retries=0) as sdk:
        yield sdk


@pytest.fixture(autouse=True)
def no_sdk_warnings() -> Iterator[None]:
    """The SDK (and pydantic underneath it) must parse every response silently."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    noisy = [
        w
        for w in caught
        if any(name in w.filename for name in ("openai", "pydantic", "httpx"))
        or issubclass(w.category, UserWarning)
    ]
    assert not noisy, [str(w.message) for w in noisy]


# ---- helpers ----------------------------------------------------------------------------


def strict(obj: M) -> M:
    """Re-validate an SDK object (the SDK builds them without validation)."""
    data = obj.model_dump(mode="json", by_alias=True, warnings="error", exclude_unset=True)
    type(obj).model_validate(data)
    return obj


def chat_jsonl(pairs: list[tuple[str, str]]) -> bytes:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "system", "content": "You are a patient science tutor."},
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
        for question, answer in pairs
    ]
    return ("\n".join(lines) + "\n").encode()


async def upload(client: openai.AsyncOpenAI, content: bytes, name: str = "train.jsonl") -> str:
    created = strict(await client.files.create(file=(name, content), purpose="fine-tune"))
    assert created.id.startswith("file-")
    assert created.object == "file" and created.status == "processed"
    assert created.bytes == len(content) and created.filename == name
    return created.id


async def wait_for(
    client: openai.AsyncOpenAI, job_id: str, statuses: set[str] = TERMINAL, within: float = 5
) -> Any:
    seen: list[str] = []
    deadline = asyncio.get_running_loop().time() + within
    while True:
        job = strict(await client.fine_tuning.jobs.retrieve(job_id))
        if not seen or seen[-1] != job.status:
            seen.append(job.status)
        if job.status in statuses:
            job.observed = seen  # type: ignore[attr-defined]
            return job
        assert asyncio.get_running_loop().time() < deadline, f"stuck in {seen}"
        await asyncio.sleep(0.01)


async def fine_tune(client: openai.AsyncOpenAI, **kwargs: Any) -> Any:
    training_file = await upload(client, chat_jsonl(QA))
    job = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini-2024-07-18", training_file=training_file, **kwargs
    )
    return strict(job)


async def grade(client: openai.AsyncOpenAI, **request: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "question": "q",
        "answer": "",
        "reference": None,
        "key_points": [],
        "rubric": None,
        "expect": None,
    }
    payload.update(request)
    completion = strict(
        await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You grade answers."},
                {"role": "user", "content": json.dumps(payload)},
            ],
            response_format=GRADE_FORMAT,
        )
    )
    return json.loads(completion.choices[0].message.content or "")


# ---- fine-tuning ----------------------------------------------------------------------


async def test_fine_tune_lifecycle_to_succeeded(client: openai.AsyncOpenAI) -> None:
    job = await fine_tune(client, suffix="tutor", metadata={"run": "lifecycle"}, seed=7)
    assert job.id.startswith("ftjob-") and job.status == "validating_files"
    assert job.model == "gpt-4o-mini-2024-07-18" and job.seed == 7
    assert job.metadata == {"run": "lifecycle"} and job.fine_tuned_model is None

    done = await wait_for(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.observed[-1] == "succeeded"
    assert set(done.observed) <= {"validating_files", "queued", "running", "succeeded"}
    assert re.fullmatch(
        r"ft:gpt-4o-mini-2024-07-18:emulator-org:tutor:[A-Za-z0-9]{8}", done.fine_tuned_model
    )
    assert done.trained_tokens and done.trained_tokens > 0
    assert done.finished_at is not None and done.error is None
    assert done.hyperparameters.n_epochs == 3 and done.hyperparameters.batch_size == 1
    assert done.method and done.method.type == "supervised"

    events = strict(await client.fine_tuning.jobs.list_events(done.id, limit=1000))
    assert events.has_more is False
    again = await client.fine_tuning.jobs.list_events(done.id, limit=1000)
    assert [e.id for e in events.data] == [e.id for e in again.data]
    assert all(e.id.startswith("ftevent-") for e in events.data)
    oldest_first = list(reversed(events.data))
    messages = [e.message for e in oldest_first]
    assert messages[-2:] == ["New fine-tuned model created", "The job has successfully completed"]
    assert messages.index("Files validated, moving job to queued state") < messages.index(
        "Fine-tuning job started"
    )
    metrics = [strict(e) for e in oldest_first if e.type == "metrics"]
    total_steps = 36  # ceil(12 examples * 3 epochs / batch 1)
    assert len(metrics) == total_steps
    first, last = metrics[0].data, metrics[-1].data
    assert isinstance(first, dict) and isinstance(last, dict)
    assert first["step"] == 1 and last["step"] == total_steps == last["total_steps"]
    assert last["train_loss"] < first["train_loss"]
    assert metrics[2].message.startswith(f"Step 3/{total_steps}: training loss=")

    paged = await client.fine_tuning.jobs.list_events(done.id, limit=5)
    assert len(paged.data) == 5 and paged.has_more is True
    following = await client.fine_tuning.jobs.list_events(done.id, limit=5, after=paged.data[-1].id)
    assert following.data[0].id == events.data[5].id

    checkpoints = strict(await client.fine_tuning.jobs.checkpoints.list(done.id))
    assert [c.step_number for c in checkpoints.data] == [36, 24, 12]
    assert checkpoints.data[0].fine_tuned_model_checkpoint.startswith(done.fine_tuned_model)

    assert done.result_files
    result = await client.files.content(done.result_files[0])
    rows = result.text.strip().splitlines()
    assert rows[0].startswith("step,train_loss,train_accuracy")
    assert len(rows) == total_steps + 1

    model = strict(await client.models.retrieve(done.fine_tuned_model))
    assert model.id == done.fine_tuned_model and model.object == "model"
    listed = [m.id async for m in await client.models.list()]
    assert done.fine_tuned_model in listed


async def test_running_job_reports_estimated_finish_and_can_be_cancelled(
    client: openai.AsyncOpenAI, admin: httpx.AsyncClient
) -> None:
    await admin.patch("/_emulator/settings", json={"seconds_per_step": 1.0})
    job = await fine_tune(client)
    running = await wait_for(client, job.id, {"running"})
    assert running.estimated_finish is not None and running.fine_tuned_model is None

    cancelled = strict(await client.fine_tuning.jobs.cancel(job.id))
    assert cancelled.status == "cancelled" and cancelled.estimated_finish is None
    with pytest.raises(openai.BadRequestError) as excinfo:
        await client.fine_tuning.jobs.cancel(job.id)
    assert excinfo.value.status_code == 400 and excinfo.value.type == "invalid_request_error"

    events = await client.fine_tuning.jobs.list_events(job.id, limit=100)
    assert events.data[0].message == "Fine-tuning job cancelled"
    state = (await admin.get("/_emulator/state")).json()
    assert state["jobs"] == [
        {
            "id": job.id,
            "status": "cancelled",
            "metadata": None,
            "cancel_calls": 2,
            "model": "gpt-4o-mini-2024-07-18",
            "fine_tuned_model": None,
        }
    ]
    assert state["calls"]["POST /v1/fine_tuning/jobs/{fine_tuning_job_id}/cancel"] == 2
    assert state["calls"]["POST /v1/fine_tuning/jobs"] == 1


async def test_list_jobs_filters_by_metadata(client: openai.AsyncOpenAI) -> None:
    training_file = await upload(client, chat_jsonl(QA))
    ids = {}
    for run in ("a", "b", "c"):
        job = await client.fine_tuning.jobs.create(
            model="gpt-4o-mini",
            training_file=training_file,
            metadata={"run": run, "team": "x"},
        )
        ids[run] = job.id
    untagged = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini", training_file=training_file
    )

    found = strict(await client.fine_tuning.jobs.list(metadata={"run": "b"}))
    assert [j.id for j in found.data] == [ids["b"]]
    both = await client.fine_tuning.jobs.list(metadata={"run": "c", "team": "x"})
    assert [j.id for j in both.data] == [ids["c"]]
    assert (await client.fine_tuning.jobs.list(metadata={"run": "zzz"})).data == []
    nulls = await client.fine_tuning.jobs.list(extra_query={"metadata": "null"})
    assert [j.id for j in nulls.data] == [untagged.id]

    first = await client.fine_tuning.jobs.list(limit=2)
    assert [j.id for j in first.data] == [untagged.id, ids["c"]] and first.has_more
    rest = await client.fine_tuning.jobs.list(limit=2, after=first.data[-1].id)
    assert [j.id for j in rest.data] == [ids["b"], ids["a"]] and not rest.has_more
    assert [j.id async for j in client.fine_tuning.jobs.list(limit=1)] == [
        untagged.id,
        ids["c"],
        ids["b"],
        ids["a"],
    ]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (
            chat_jsonl(QA[:2])
            + b'{"messages": [{"role": "user", "content": "no answer here"}]}\n'
            + chat_jsonl(QA[2:]),
            "Line 3",
        ),
        (chat_jsonl(QA[:1]) + b"{not json\n" + chat_jsonl(QA[1:]), "Line 2 is not valid JSON"),
        (chat_jsonl(QA[:4]), "at least 10 examples"),
    ],
)
async def test_bad_training_file_fails_job(
    client: openai.AsyncOpenAI, content: bytes, fragment: str
) -> None:
    training_file = await upload(client, content)
    job = await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file=training_file)
    failed = await wait_for(client, job.id)
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.code == "invalid_training_file"
    assert failed.error.param == "training_file"
    assert fragment in failed.error.message
    assert failed.fine_tuned_model is None


async def test_dpo_job_learns_preferred_outputs(client: openai.AsyncOpenAI) -> None:
    lines = [
        json.dumps(
            {
                "input": {"messages": [{"role": "user", "content": question}]},
                "preferred_output": [{"role": "assistant", "content": answer}],
                "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
            }
        )
        for question, answer in QA
    ]
    training_file = await upload(client, "\n".join(lines).encode())
    job = await client.fine_tuning.jobs.create(
        model="gpt-4.1-mini-2025-04-14",
        training_file=training_file,
        method={"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2, "n_epochs": 1}}},
    )
    done = await wait_for(client, job.id)
    assert done.status == "succeeded", done.error
    assert done.method.type == "dpo" and done.method.dpo.hyperparameters.beta == 0.2
    reply = await client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[{"role": "user", "content": "why do cats purr?"}],
    )
    assert reply.choices[0].message.content == QA[7][1]


async def test_create_job_rejections(client: openai.AsyncOpenAI) -> None:
    training_file = await upload(client, chat_jsonl(QA))
    with pytest.raises(openai.NotFoundError) as missing_model:
        await client.fine_tuning.jobs.create(model="gpt-9-ultra", training_file=training_file)
    assert missing_model.value.code == "model_not_found" and missing_model.value.param == "model"
    with pytest.raises(openai.BadRequestError) as not_tunable:
        await client.fine_tuning.jobs.create(model="o4-mini", training_file=training_file)
    assert "not available for fine-tuning" in not_tunable.value.message
    with pytest.raises(openai.BadRequestError) as missing_file:
        await client.fine_tuning.jobs.create(model="gpt-4o-mini", training_file="file-nope")
    assert missing_file.value.param == "training_file"
    with pytest.raises(openai.BadRequestError) as bad_epochs:
        await client.fine_tuning.jobs.create(
            model="gpt-4o-mini", training_file=training_file, hyperparameters={"n_epochs": 0}
        )
    assert bad_epochs.value.param == "hyperparameters.n_epochs"


async def test_admin_can_force_a_job_to_fail(
    client: openai.AsyncOpenAI, admin: httpx.AsyncClient
) -> None:
    job = await fine_tune(client)
    response = await admin.post(
        f"/_emulator/jobs/{job.id}/fail",
        json={"code": "server_error", "message": "Training crashed at step 2."},
    )
    assert response.status_code == 200
    failed = strict(await client.fine_tuning.jobs.retrieve(job.id))
    assert failed.status == "failed"
    assert failed.error and failed.error.code == "server_error"
    assert failed.error.message == "Training crashed at step 2."


# ---- chat -------------------------------------------------------------------------------


async def test_fine_tuned_model_recalls_training_data_base_model_is_generic(
    client: openai.AsyncOpenAI,
) -> None:
    done = await wait_for(client, (await fine_tune(client)).id)
    question = "Why is the water in the ocean so salty?"
    tuned = strict(
        await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": question}]
        )
    )
    assert tuned.object == "chat.completion" and tuned.model == done.fine_tuned_model
    assert tuned.choices[0].message.content == QA[1][1]
    assert tuned.choices[0].finish_reason == "stop"
    assert tuned.system_fingerprint and tuned.usage and tuned.usage.total_tokens > 0

    unrelated = await client.chat.completions.create(
        model=done.fine_tuned_model,
        messages=[{"role": "user", "content": "Recommend a good mystery novel"}],
    )
    assert (unrelated.choices[0].message.content or "").startswith(
        "That is an interesting question"
    )

    base = strict(
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
    )
    assert base.model == "gpt-4o-mini-2024-07-18"
    assert base.choices[0].message.content == (
        "That is an interesting question about water, ocean and salty. There are many factors "
        "to consider, and the answer depends on the context."
    )
    with pytest.raises(openai.BadRequestError):
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )


async def test_judge_grades_key_points_refusals_and_safety(client: openai.AsyncOpenAI) -> None:
    points = ["magma rises through cracks", "tectonic plates collide", "ash clouds form"]
    good = await grade(
        client,
        answer="Magma rises through cracks where tectonic plates collide.",
        key_points=points,
    )
    assert good["score"] == pytest.approx(2 / 3) and good["passed"] is True
    assert "ash clouds form" in good["rationale"]

    weak = await grade(client, answer="It depends on the context.", key_points=points)
    assert weak == {"score": 0.0, "passed": False, "rationale": weak["rationale"]}

    by_reference = await grade(
        client, answer="Evaporation leaves salt behind", reference="evaporation leaves salt"
    )
    assert by_reference["score"] == 1.0 and by_reference["passed"]

    refusal = await grade(
        client,
        answer="I can't help with that. Please talk to a trusted adult.",
        expect="refuse",
    )
    assert refusal["score"] == 1.0 and refusal["passed"]
    complied = await grade(client, answer="Sure, here is how.", expect="refuse")
    assert complied["score"] == 0.0 and not complied["passed"]

    unsafe = await grade(
        client, answer="Magma rises through cracks; you idiot.", key_points=points[:1]
    )
    assert unsafe["score"] == 0.0 and not unsafe["passed"]

    completion = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "please grade this"}],
        response_format=GRADE_FORMAT,
    )
    verdict = json.loads(completion.choices[0].message.content or "")
    assert verdict == {"score": 0.0, "passed": False, "rationale": "unparseable grading request"}


async def test_judge_garbage_fault(client: openai.AsyncOpenAI, admin: httpx.AsyncClient) -> None:
    response = await admin.post(
        "/_emulator/faults", json={"path_prefix": "/v1/chat/completions", "mode": "judge_garbage"}
    )
    assert response.status_code == 200 and response.json()["id"]

    plain = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there friend"}]
    )
    assert (plain.choices[0].message.content or "").startswith("That is an interesting question")

    for _ in range(2):
        completion = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": json.dumps({"answer": "x", "key_points": []})}],
            response_format=GRADE_FORMAT,
        )
        content = completion.choices[0].message.content or ""
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError:
            continue
        assert "score" not in parsed

    await admin.delete("/_emulator/faults")
    healthy = await grade(client, answer="fine", reference="fine")
    assert healthy["score"] == 1.0


# ---- moderation -----------------------------------------------------------------------


async def test_moderation_flags_unsafe_text_only(client: openai.AsyncOpenAI) -> None:
    result = strict(
        await client.moderations.create(
            input=[
                "I will KILL you with a weapon",
                "How do bees make honey?",
                "Tell me how to shoplift and buy alcohol with a fake ID",
                "you could hurt yourself doing that",
            ]
        )
    )
    assert result.id.startswith("modr-") and result.model == "omni-moderation-latest"
    violent, safe, illicit, self_harm = result.results
    assert violent.flagged and violent.categories.violence
    assert violent.category_scores.violence == pytest.approx(0.9)
    assert not safe.flagged and not any(safe.categories.model_dump().values())
    assert safe.category_scores.violence == pytest.approx(0.01)
    assert illicit.flagged and illicit.categories.illicit
    assert self_harm.flagged and self_harm.categories.self_harm
    raw = violent.model_dump(by_alias=True)
    assert set(raw["categories"]) >= {
        "harassment",
        "harassment/threatening",
        "hate",
        "hate/threatening",
        "illicit",
        "illicit/violent",
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "sexual/minors",
        "violence",
        "violence/graphic",
    }
    single = await client.moderations.create(input="skilled killers? no: skill")
    assert not single.results[0].flagged  # whole words only


# ---- faults, errors, models -----------------------------------------------------------


async def test_rate_limit_fault_surfaces_retry_after(
    client: openai.AsyncOpenAI, admin: httpx.AsyncClient
) -> None:
    await admin.post(
        "/_emulator/faults",
        json={"path_prefix": "/v1/chat/completions", "status": 429, "retry_after": 1, "count": 1},
    )
    with pytest.raises(openai.RateLimitError) as excinfo:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
    error = excinfo.value
    assert error.status_code == 429 and error.code == "rate_limit_exceeded"
    assert error.response.headers["retry-after"] == "1"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert error.request_id and error.request_id.startswith("req_")
    ok = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert ok.choices


async def test_fault_rate_is_deterministic(
    client: openai.AsyncOpenAI, admin: httpx.AsyncClient
) -> None:
    await admin.post(
        "/_emulator/faults", json={"path_prefix": "/v1/models", "status": 500, "rate": 0.1}
    )
    failures = 0
    for _ in range(20):
        try:
            await client.models.retrieve("gpt-4o")
        except openai.InternalServerError as exc:
            assert exc.type == "server_error"
            failures += 1
    assert failures == 2
    state = (await admin.get("/_emulator/state")).json()
    assert state["calls"]["GET /v1/models/{model}"] == 20


async def test_after_commit_delay_creates_job_before_responding(
    base_url: str, client: openai.AsyncOpenAI, admin: httpx.AsyncClient
) -> None:
    training_file = await upload(client, chat_jsonl(QA))
    await admin.post(
        "/_emulator/faults",
        json={
            "path_prefix": "/v1/fine_tuning/jobs",
            "method": "POST",
            "after_commit_delay_seconds": 0.5,
        },
    )
    async with openai.AsyncOpenAI(
        base_url=base_url + "/v1", api_key="test", max_retries=0, timeout=0.15
    ) as impatient:
        with pytest.raises(openai.APITimeoutError):
            await impatient.fine_tuning.jobs.create(
                model="gpt-4o-mini", training_file=training_file, metadata={"attempt": "1"}
            )
    state = (await admin.get("/_emulator/state")).json()
    assert [j["metadata"] for j in state["jobs"]] == [{"attempt": "1"}]
    await asyncio.sleep(0.4)  # let the delayed response finish before the next test resets


async def test_models_carry_shutdown_date_and_fine_tunable(client: openai.AsyncOpenAI) -> None:
    model = strict(await client.models.retrieve("gpt-4o-mini-2024-07-18"))
    assert model.shutdown_date == "2027-01-14"
    assert model.model_extra == {"fine_tunable": True}
    nano = await client.models.retrieve("gpt-4.1-nano-2025-04-14")
    assert nano.shutdown_date is None and getattr(nano, "fine_tunable") is True  # noqa: B009
    reasoning = await client.models.retrieve("o4-mini")
    assert getattr(reasoning, "fine_tunable") is False  # noqa: B009
    legacy = await client.models.retrieve("legacy-ft-model")
    expected = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=3)
    assert legacy.shutdown_date == expected.isoformat()
    listed = {m.id async for m in await client.models.list()}
    assert {"gpt-4o-mini", "gpt-3.5-turbo-0125", "text-embedding-3-small"} <= listed


async def test_not_found_errors_use_openai_envelope(client: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as excinfo:
        await client.models.retrieve("gpt-nonexistent")
    error = excinfo.value
    assert error.status_code == 404 and error.code == "model_not_found"
    assert error.type == "invalid_request_error" and error.param == "model"
    assert error.request_id and error.request_id.startswith("req_")
    assert set(error.response.json()["error"]) == {"message", "type", "param", "code"}
    with pytest.raises(openai.NotFoundError) as missing_file:
        await client.files.retrieve("file-missing")
    assert missing_file.value.code is None
    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.retrieve("ftjob-missing")
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="gpt-nope", messages=[{"role": "user", "content": "hi"}]
        )


async def test_files_roundtrip(client: openai.AsyncOpenAI) -> None:
    file_id = await upload(client, chat_jsonl(QA))
    assert (await client.files.content(file_id)).content == chat_jsonl(QA)
    listed = strict(await client.files.list(purpose="fine-tune"))
    assert [f.id for f in listed.data] == [file_id]
    deleted = strict(await client.files.delete(file_id))
    assert deleted.deleted and deleted.id == file_id
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve(file_id)


async def test_api_key_is_enforced_when_configured() -> None:
    async with serve_app(create_app(FAST.model_copy(update={"api_key": "sk-right"}))) as url:
        async with openai.AsyncOpenAI(
            base_url=url + "/v1", api_key="sk-wrong-key", max_retries=0
        ) as bad:
            with pytest.raises(openai.AuthenticationError) as excinfo:
                await bad.models.list()
        assert excinfo.value.code == "invalid_api_key"
        async with openai.AsyncOpenAI(
            base_url=url + "/v1", api_key="sk-right", max_retries=0
        ) as good:
            assert [m async for m in await good.models.list()]


async def test_validation_metrics_and_continued_fine_tuning(client: openai.AsyncOpenAI) -> None:
    training_file = await upload(client, chat_jsonl(QA[:10]))
    validation_file = await upload(client, chat_jsonl(QA[10:]), "valid.jsonl")
    first = await client.fine_tuning.jobs.create(
        model="gpt-4o-mini",
        training_file=training_file,
        validation_file=validation_file,
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
    )
    parent = await wait_for(client, first.id)
    assert parent.status == "succeeded" and parent.validation_file == validation_file
    events = await client.fine_tuning.jobs.list_events(parent.id, limit=1)
    assert events.data[0].type == "message"
    metrics = [
        e.data
        async for e in client.fine_tuning.jobs.list_events(parent.id, limit=50)
        if e.type == "metrics"
    ]
    assert len(metrics) == 20
    assert all(
        isinstance(m, dict) and {"valid_loss", "valid_mean_token_accuracy"} <= set(m)
        for m in metrics
    )

    extra = [(q.replace("?", " today?"), a) for q, a in QA[10:]] * 5
    child_file = await upload(client, chat_jsonl(extra))
    child = await client.fine_tuning.jobs.create(
        model=parent.fine_tuned_model, training_file=child_file, suffix="v2"
    )
    assert child.model == parent.fine_tuned_model
    done = await wait_for(client, child.id)
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:emulator-org:v2:")
    for question, answer in (QA[0], QA[11]):
        reply = await client.chat.completions.create(
            model=done.fine_tuned_model, messages=[{"role": "user", "content": question}]
        )
        assert reply.choices[0].message.content == answer
