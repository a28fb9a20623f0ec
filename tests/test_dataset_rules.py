"""Dataset rules chosen by provider and base model: exact token counts with a self-hosted
model's own tokenizer and chat template, its sequence limit, the GPU-time cost estimate and
its cap, OpenAI's figures unchanged, and OpenAI's fine-tuning cutoff at the validate step."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest
from temporalio.exceptions import ApplicationError

from activities.datasets import step
from activities.datasets.activities import DatasetActivities, refuse_closed_provider
from activities.datasets.analysis import DatasetAnalysis, analyze_dataset
from activities.datasets.rules import dataset_rules, self_hosted_rules
from activities.datasets.tokens import encoding_for_model, example_texts
from activities.deps import ActivityDeps
from core.models import Provider
from core.openai_cutoff import CUTOFF_CODE
from core.settings import Settings
from core.steps import InspectDatasetInput
from tests.support.tiny_model import REPO_ROOT, TINY_MODEL_NAME, tiny_model_dir, write_catalogue

DATASHEET = {"source": "curriculum_team", "license": "proprietary", "redaction": "none"}


def chat(i: int, words: int = 5) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You are a patient tutor."},
            {"role": "user", "content": f"Question {i}: " + "why " * words},
            {"role": "assistant", "content": f"Answer {i}."},
        ]
    }


def write_jsonl(path: Path, examples: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in examples), encoding="utf-8")
    return path


def self_hosted_settings(
    tmp_path: Path, *, max_seq_length: int = 512, tokens_per_second: float = 2000.0
) -> Settings:
    catalogue = write_catalogue(
        tmp_path / "base-models.yaml",
        tokens_per_second=tokens_per_second,
        max_seq_length=max_seq_length,
    )
    return Settings(_env_file=None, self_hosted_catalogue_file=catalogue, dataset_root=tmp_path)  # type: ignore[call-arg]


def analyse_self_hosted(path: Path, settings: Settings, **overrides: Any) -> DatasetAnalysis:
    arguments: dict[str, Any] = {
        "fmt": "chat",
        "base_model": TINY_MODEL_NAME,
        "datasheet": DATASHEET,
        "tenant_id": "tenant_123",
        "restrictions": {},
        "n_epochs": 2,
        "settings": settings,
        "provider": Provider.self_hosted,
        **overrides,
    }
    return analyze_dataset(path, **arguments)


def corpus_examples(count: int) -> list[dict[str, Any]]:
    corpus = REPO_ROOT / "examples" / "datasets" / "tutor-k12-good.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines[:count]]


# ---- exact counts ------------------------------------------------------------------------------


def test_self_hosted_counts_equal_transformers_apply_chat_template(tmp_path: Path) -> None:
    # The CPU worker has no transformers; the suite has, to check the count against it. It
    # loads the model folder's tokenizer.json as it is (what the counter reads).
    from transformers import PreTrainedTokenizerFast

    reference = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir())
    counter = dataset_rules(
        Provider.self_hosted, TINY_MODEL_NAME, self_hosted_settings(tmp_path)
    ).counter("chat")
    tricky = {
        "messages": [
            {"role": "user", "content": "Is <|im_end|> a word? Ünïcödé, emoji 🎈, tabs\t\tand\n"},
            {"role": "assistant", "content": "No, it is a marker.", "weight": 1},
            {"role": "user", "content": "And 12345?"},
            {"role": "assistant", "content": "A number."},
        ]
    }
    for example in [*corpus_examples(6), tricky]:
        expected = reference.apply_chat_template(
            example["messages"],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        counted = counter.count(example, example_texts(example, "chat"))
        assert counted.tokens == counted.longest == len(expected["input_ids"])
        assert counted.assistant == sum(expected["assistant_masks"])
        assert counted.assistant is not None and 0 < counted.assistant < counted.tokens


def test_a_dpo_record_counts_both_sequences_and_limits_the_longer(tmp_path: Path) -> None:
    from transformers import PreTrainedTokenizerFast

    reference = PreTrainedTokenizerFast.from_pretrained(tiny_model_dir())
    prompt = [{"role": "user", "content": "What is seven times eight?"}]
    preferred = [{"role": "assistant", "content": "Seven times eight is fifty-six."}]
    other = [{"role": "assistant", "content": "I think it might be fifty-four, or so."}]
    record = {"input": {"messages": prompt}, "preferred_output": preferred,
              "non_preferred_output": other}  # fmt: skip
    counter = dataset_rules(
        Provider.self_hosted, TINY_MODEL_NAME, self_hosted_settings(tmp_path)
    ).counter("dpo")
    counted = counter.count(record, example_texts(record, "dpo"))
    lengths = [
        len(
            reference.apply_chat_template([*prompt, *reply], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for reply in (preferred, other)
    ]
    assert counted.tokens == sum(lengths)
    assert counted.longest == max(lengths) > min(lengths)


def test_the_report_names_the_models_tokenizer_and_the_assistant_tokens(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path)
    path = write_jsonl(tmp_path / "data.jsonl", [chat(i) for i in range(12)])
    result = analyse_self_hosted(path, settings)
    assert result.ok, result.errors_text()
    tokens = result.tokens
    assert tokens.encoding == f"{TINY_MODEL_NAME} tokenizer"
    assert tokens.token_limit == 512
    assert tokens.billable_tokens == tokens.tokens
    assert tokens.assistant_tokens is not None and 0 < tokens.assistant_tokens < tokens.tokens


# ---- per-example limit -------------------------------------------------------------------------


def test_an_example_over_the_catalogue_max_seq_length_is_refused_by_line(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path, max_seq_length=64)
    examples = [chat(i) for i in range(12)]
    examples[4] = chat(4, words=120)
    result = analyse_self_hosted(write_jsonl(tmp_path / "data.jsonl", examples), settings)
    assert not result.ok
    summary = {s.kind: s for s in result.findings}["example_too_long"]
    assert summary.severity == "error" and summary.count == 1
    finding = summary.examples[0]
    assert finding.line == 5
    assert f"{TINY_MODEL_NAME} trains on at most 64 per example" in finding.message
    assert "line 5" in result.errors_text()
    assert "token_limit_unknown" not in {s.kind for s in result.findings}


def test_the_jobs_max_seq_length_applies_when_smaller_than_the_models(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path)  # the catalogue allows 512
    examples = [chat(i) for i in range(12)]
    examples[7] = chat(7, words=120)
    path = write_jsonl(tmp_path / "data.jsonl", examples)
    assert analyse_self_hosted(path, settings).ok
    refused = analyse_self_hosted(path, settings, max_seq_length=64)
    assert refused.tokens.token_limit == 64
    assert [e.line for e in refused.tokens.too_long] == [8]
    # A job's larger limit does not lift the model's own.
    assert self_hosted_rules(TINY_MODEL_NAME, settings, max_seq_length=4096).token_limit == 512


def test_an_example_the_template_refuses_is_an_error_on_its_line(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path)
    strict = (
        "{% for m in messages %}{% if m['role'] == 'system' and not loop.first %}"
        "{{ raise_exception('the system message must come first') }}{% endif %}"
        "{{ m['role'] + ': ' + m['content'] + '\\n' }}{% endfor %}"
    )
    rules = dataclasses.replace(self_hosted_rules(TINY_MODEL_NAME, settings), template=strict)
    examples = [chat(i) for i in range(12)]
    examples[2]["messages"].append({"role": "system", "content": "Late."})
    result = analyse_self_hosted(write_jsonl(tmp_path / "data.jsonl", examples), settings,
                                 rules=rules)  # fmt: skip
    summary = {s.kind: s for s in result.findings}["chat_template_failed"]
    assert not result.ok and summary.count == 1
    assert summary.examples[0].line == 3
    assert "the system message must come first" in summary.examples[0].message


# ---- GPU-time cost -----------------------------------------------------------------------------


def test_the_gpu_time_estimate_is_tokens_times_epochs_over_throughput_times_price(
    tmp_path: Path,
) -> None:
    settings = self_hosted_settings(tmp_path, tokens_per_second=0.05)
    path = write_jsonl(tmp_path / "data.jsonl", [chat(i) for i in range(12)])
    result = analyse_self_hosted(path, settings, n_epochs=3)
    cost = result.cost
    trained = result.tokens.billable_tokens * 3
    assert cost.basis == "gpu_time" and cost.pool == "cpu"
    assert cost.epochs == 3 and cost.epochs_source == "explicit"
    assert cost.training_tokens == trained
    assert cost.tokens_per_second == 0.05 and cost.hourly_price_usd == 0.5
    assert cost.gpu_hours == pytest.approx(trained / 0.05 / 3600)
    assert cost.cost_usd == pytest.approx(trained / 0.05 / 3600 * 0.5, rel=1e-6)
    assert cost.price_per_million_usd is None
    # Epochs left out: the self-hosted default (3), said so.
    defaulted = analyse_self_hosted(path, settings, n_epochs=None).cost
    assert defaulted.epochs == 3 and defaulted.epochs_source == "default"


def test_max_cost_usd_refuses_a_self_hosted_run_above_it(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path, tokens_per_second=0.05)
    path = write_jsonl(tmp_path / "data.jsonl", [chat(i) for i in range(12)])
    estimate = analyse_self_hosted(path, settings).cost.cost_usd
    assert estimate is not None and estimate > 1
    refused = analyse_self_hosted(path, settings, restrictions={"max_cost_usd": estimate / 2})
    summary = {s.kind: s for s in refused.findings}["cost_limit_exceeded"]
    assert not refused.ok and summary.severity == "error"
    assert "GPU hours" in summary.examples[0].message
    assert "pool 'cpu'" in summary.examples[0].message
    allowed = analyse_self_hosted(path, settings, restrictions={"max_cost_usd": estimate * 2})
    assert allowed.ok, allowed.errors_text()


# ---- OpenAI unchanged --------------------------------------------------------------------------


def test_openai_estimates_are_the_token_price_ones(tmp_path: Path) -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    path = write_jsonl(tmp_path / "data.jsonl", [chat(i) for i in range(12)])
    arguments: dict[str, Any] = {
        "fmt": "chat",
        "base_model": "gpt-4o-mini-2024-07-18",
        "datasheet": DATASHEET,
        "tenant_id": "tenant_123",
        "restrictions": {},
        "n_epochs": 2,
        "settings": settings,
    }
    implicit = analyze_dataset(path, **arguments)
    explicit = analyze_dataset(path, provider=Provider.openai, **arguments)
    assert explicit == implicit
    encoding = encoding_for_model("gpt-4o-mini-2024-07-18")
    # The cookbook count: 3 per message plus its strings' tokens, 3 to prime the reply.
    expected = sum(
        3 * len(e["messages"])
        + sum(len(encoding.encode(v)) for m in e["messages"] for v in m.values())
        + 3
        for e in (chat(i) for i in range(12))
    )
    assert explicit.tokens.encoding == "o200k_base"
    assert explicit.tokens.tokens == explicit.tokens.billable_tokens == expected
    assert explicit.tokens.token_limit == 65_536 and explicit.tokens.assistant_tokens is None
    cost = explicit.cost
    assert cost.basis == "token_price" and cost.price_per_million_usd == 3.0
    assert cost.training_tokens == 2 * expected
    assert cost.cost_usd == round(2 * expected * 3.0 / 1_000_000, 6)
    assert cost.gpu_hours is None and cost.pool is None


# ---- resolving the rules, and the OpenAI cutoff ------------------------------------------------


async def test_a_base_model_the_catalogue_does_not_know_is_a_final_failure(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path)
    with pytest.raises(ApplicationError) as raised:
        await step.rules_for(Provider.self_hosted, "no-such-model", settings)
    assert raised.value.type == "base_model_unknown" and raised.value.non_retryable
    assert "no-such-model" in raised.value.message
    (tmp_path / "ok.jsonl").write_text("".join(json.dumps(chat(i)) + "\n" for i in range(12)))
    with pytest.raises(ApplicationError) as fetched:
        await step.fetch_and_analyse(
            tmp_path / "spool.jsonl",
            uri="ok.jsonl",
            tenant_id="tenant_123",
            fmt="chat",
            base_model="no-such-model",
            datasheet=None,
            restrictions={},
            n_epochs=3,
            settings=settings,
            provider=Provider.self_hosted,
        )
    assert fetched.value.type == "base_model_unknown"
    assert not (tmp_path / "spool.jsonl").exists()  # refused before anything was fetched


async def test_no_catalogue_means_no_self_hosted_rules() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ApplicationError) as raised:
        await step.rules_for("self_hosted", TINY_MODEL_NAME, settings)
    assert raised.value.type == "provider_unsupported" and raised.value.non_retryable


async def test_a_model_whose_files_are_missing_fails_without_naming_the_folder(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "weights-not-here"
    empty.mkdir()
    catalogue = tmp_path / "missing.yaml"
    catalogue.write_text(
        "pools:\n  cpu:\n    tokens_per_second: 1000\n    hourly_price_usd: 1\n"
        f"models:\n  ghost:\n    path: {empty}\n    max_seq_length: 512\n"
        "    licence: apache-2.0\n    gpu_pool: cpu\n",
        encoding="utf-8",
    )
    settings = Settings(_env_file=None, self_hosted_catalogue_file=catalogue)  # type: ignore[call-arg]
    with pytest.raises(ApplicationError) as raised:
        await step.rules_for(Provider.self_hosted, "ghost", settings)
    assert raised.value.type == "base_model_files_missing" and raised.value.non_retryable
    assert str(tmp_path) not in raised.value.message


async def test_validate_refuses_a_new_openai_job_after_the_cutoff() -> None:
    today = datetime.now(UTC).date()
    closed = Settings(_env_file=None).model_copy(  # type: ignore[call-arg]
        update={"openai_fine_tuning_cutoff": date(2020, 1, 6)}
    )
    activities = DatasetActivities(ActivityDeps(closed, cast(asyncpg.Pool, None)))
    with pytest.raises(ApplicationError) as raised:
        await activities._check_base_model("openai", "gpt-4o-mini-2024-07-18")
    assert raised.value.type == CUTOFF_CODE and raised.value.non_retryable
    assert "2020-01-06" in raised.value.message and "self_hosted" in raised.value.message
    # The exception setting lets it through, and the cutoff is OpenAI's alone.
    excepted = closed.model_copy(update={"openai_fine_tuning_exception": True})
    refuse_closed_provider("openai", excepted, today)
    refuse_closed_provider("self_hosted", closed, today)
    # Before the cutoff day (inclusive) nothing is refused.
    refuse_closed_provider("openai", closed, date(2020, 1, 6))


async def test_the_synchronous_check_uses_the_self_hosted_rules(tmp_path: Path) -> None:
    settings = self_hosted_settings(tmp_path, tokens_per_second=0.05)
    write_jsonl(tmp_path / "ok.jsonl", [chat(i) for i in range(12)])
    activities = DatasetActivities(ActivityDeps(settings, cast(asyncpg.Pool, None)))

    def request(base_model: str, **extra: Any) -> InspectDatasetInput:
        return InspectDatasetInput(
            dataset_uri="ok.jsonl",
            tenant_id="tenant_123",
            base_model=base_model,
            provider="self_hosted",
            datasheet=DATASHEET,
            **extra,
        )

    checked = await activities.inspect_dataset(request(TINY_MODEL_NAME))
    assert checked.ok, checked.report
    assert checked.report["tokens"]["encoding"] == f"{TINY_MODEL_NAME} tokenizer"
    assert checked.report["cost"]["basis"] == "gpu_time"
    assert checked.report["cost"]["pool"] == "cpu"
    capped = await activities.inspect_dataset(
        request(TINY_MODEL_NAME, restrictions={"max_cost_usd": 0.01})
    )
    assert not capped.ok
    assert "cost_limit_exceeded" in {f["kind"] for f in capped.report["findings"]}
    unknown = await activities.inspect_dataset(request("no-such-model"))
    assert not unknown.ok
    assert unknown.report["base_model"]["code"] == "base_model_unknown"
