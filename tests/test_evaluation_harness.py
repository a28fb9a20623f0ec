"""Unit tests of the evaluation harness: statistics, scoring, suites, graders, run_suite.

Provider calls go to a small in-memory stand-in for the SDK client (no HTTP); the end-to-end
check against the OpenAI emulator is `bench/eval_quality_check.py`.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from typing import Any

import httpx2
import openai
import pytest
from openai.types import ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.moderation import Categories
from pydantic import TypeAdapter

from activities.evaluation.contamination import (
    contaminated_sample_ids,
    normalise_text,
    prompt_fingerprint,
)
from activities.evaluation.graders import GradeContext, grade
from activities.evaluation.graders.judge import MALFORMED, judge_request, parse_reply
from activities.evaluation.graders.pii import find_pii
from activities.evaluation.graders.readability import flesch_kincaid_grade
from activities.evaluation.graders.refusal import is_refusal
from activities.evaluation.graders.text import extract_numbers
from activities.evaluation.harness import run_suite
from activities.evaluation.scoring import summarize
from activities.evaluation.stats import mean, paired_delta, stderr
from core.evaluation import (
    EvaluationSummary,
    IntervalMethod,
    ScoreWeights,
    SuiteCategory,
    SuiteScore,
    Thresholds,
)
from core.evaluation_suites import (
    GraderSpec,
    Sample,
    Suite,
    SuiteError,
    list_builtin_suites,
    load_builtin_suite,
    suite_from_dict,
)
from core.gates import GateKind, ScoreGates

PEDAGOGY = {
    "curriculum_alignment",
    "learning_objectives",
    "content_accuracy",
    "pedagogical_soundness",
    "engagement_quality",
}
SAFETY = {
    "harmful_content",
    "bias_detection",
    "privacy_protection",
    "age_appropriateness",
    "misinformation_resistance",
}

# ---- statistics ------------------------------------------------------------------------


def test_mean_and_stderr_known_values() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert mean(values) == 2.5
    # sample sd = sqrt(5/3); se = sd / 2
    assert stderr(values) == pytest.approx(math.sqrt(5 / 3) / 2)
    assert mean([]) is None and stderr([0.5]) is None


def test_paired_delta_uses_common_scored_ids_only() -> None:
    candidate = {"a": 1.0, "b": 0.5, "c": None, "d": 1.0}
    baseline = {"a": 0.5, "b": 0.5, "c": 1.0, "e": 0.0}
    delta = paired_delta(candidate, baseline, suite="s")
    assert (delta.suite, delta.n, delta.mean) == ("s", 2, 0.25)
    assert delta.method == IntervalMethod.paired_bootstrap
    assert delta.ci_low is not None and delta.ci_high is not None
    assert delta.ci_low <= 0.25 <= delta.ci_high and delta.ci_high > delta.ci_low
    empty = paired_delta({}, {"a": 1.0})
    assert empty.mean is None and empty.ci_low is None and empty.method == IntervalMethod.none


# ---- scoring ---------------------------------------------------------------------------


def suite_score(
    name: str,
    category: SuiteCategory,
    mean_: float | None,
    passed: int,
    failed: int = 0,
    errored: int = 0,
    contaminated: int = 0,
) -> SuiteScore:
    return SuiteScore(
        suite=name,
        category=category,
        model="m",
        n=passed + failed + errored + contaminated,
        passed=passed,
        failed=failed,
        errored=errored,
        contaminated=contaminated,
        mean=mean_,
        stderr=None,
        ci_low=None,
        ci_high=None,
    )


def test_category_scores_are_weighted_by_scored_samples() -> None:
    suites = [
        suite_score("p1", SuiteCategory.pedagogy, 1.0, passed=10),
        suite_score("p2", SuiteCategory.pedagogy, 0.0, passed=0, failed=30),
        suite_score("s1", SuiteCategory.safety, 0.8, passed=20),
        suite_score("c1", SuiteCategory.custom, 0.0, passed=0, failed=5),
    ]
    summary = summarize(suites, Thresholds(), ScoreWeights(pedagogy=1.0, safety=3.0))
    assert summary.pedagogy_score == pytest.approx(0.25)
    assert summary.safety_score == pytest.approx(0.8)
    assert summary.overall_score == pytest.approx((0.25 * 1 + 0.8 * 3) / 4)


def test_thresholds_left_none_are_not_applied() -> None:
    suites = [suite_score("p", SuiteCategory.pedagogy, 0.1, passed=1, failed=9)]
    summary = summarize(suites, Thresholds(), ScoreWeights())
    assert (summary.status, summary.passed, summary.failed_thresholds) == ("passed", True, [])


def test_failed_threshold_is_reported_readably() -> None:
    suites = [
        suite_score("p", SuiteCategory.pedagogy, 0.9, passed=10),
        suite_score("s", SuiteCategory.safety, 0.71, passed=7, failed=3),
    ]
    thresholds = Thresholds(pedagogy_score=0.6, safety_score=0.9)
    point = ScoreGates(safety_score=GateKind.point)
    summary = summarize(suites, thresholds, ScoreWeights(), gates=point)
    assert summary.status == "failed" and not summary.passed
    assert summary.failed_thresholds == ["safety_score 0.71 < 0.90"]
    # Safety's default gate is its lower bound; without per-sample scores there is none.
    summary = summarize(suites, thresholds, ScoreWeights())
    assert summary.failed_thresholds == [
        "safety_score lower bound unavailable (mean 0.71, no interval), required >= 0.90"
    ]


def test_threshold_on_a_missing_category_fails() -> None:
    suites = [suite_score("p", SuiteCategory.pedagogy, 0.9, passed=10)]
    summary = summarize(suites, Thresholds(safety_score=0.5), ScoreWeights())
    assert summary.status == "failed"
    assert summary.safety_score is None
    assert "safety_score unavailable" in summary.failed_thresholds[0]
    assert summary.overall_score == pytest.approx(0.9)


def test_too_many_errors_make_the_run_an_error_not_a_score() -> None:
    suites = [
        suite_score("p", SuiteCategory.pedagogy, 1.0, passed=7, errored=3),
        suite_score("s", SuiteCategory.safety, 1.0, passed=10),
    ]
    summary = summarize(suites, Thresholds(), ScoreWeights(), max_error_rate=0.2)
    assert (summary.status, summary.passed) == ("error", False)
    assert summary.error_message is not None and "p: 3/10" in summary.error_message
    assert summarize(suites, Thresholds(), ScoreWeights(), max_error_rate=0.3).status == "passed"


def test_contaminated_samples_do_not_count_toward_the_error_rate() -> None:
    score = suite_score("p", SuiteCategory.pedagogy, 1.0, passed=8, errored=2, contaminated=10)
    assert score.error_rate == pytest.approx(0.2)
    assert summarize([score], Thresholds(), ScoreWeights()).status == "passed"


def test_payload_invariants() -> None:
    with pytest.raises(ValueError):
        SuiteScore(
            suite="x", category="pedagogy", model="m", n=3, passed=1, failed=1, errored=0,
            mean=None, stderr=None, ci_low=None, ci_high=None,
        )  # fmt: skip
    with pytest.raises(ValueError):
        EvaluationSummary(
            status="failed", passed=True, pedagogy_score=None, safety_score=None,
            overall_score=None, suites=[], thresholds=Thresholds(), failed_thresholds=[],
        )  # fmt: skip
    with pytest.raises(ValueError):
        Thresholds(safety_score=1.5)
    with pytest.raises(ValueError):
        ScoreWeights(pedagogy=0, safety=0)


# ---- suites ----------------------------------------------------------------------------


def test_all_ten_builtin_suites_load() -> None:
    assert set(list_builtin_suites()) == PEDAGOGY | SAFETY
    seen: set[str] = set()
    for name in list_builtin_suites():
        suite = load_builtin_suite(name)
        assert suite.name == name
        expected = SuiteCategory.pedagogy if name in PEDAGOGY else SuiteCategory.safety
        assert suite.category == expected
        assert len(suite.samples) >= 25
        for sample in suite.samples:
            assert sample.id not in seen
            seen.add(sample.id)
            assert sample.key_points or sample.reference or sample.expect
            assert suite.graders_for(sample)
    assert load_builtin_suite("content_accuracy") is load_builtin_suite("content_accuracy")
    with pytest.raises(KeyError):
        load_builtin_suite("nope")


def test_safety_suites_check_outputs_with_moderation_and_bias_pairs_are_pairs() -> None:
    for name in SAFETY:
        suite = load_builtin_suite(name)
        for sample in suite.samples:
            assert "moderation" in {g.type for g in suite.graders_for(sample)}
    pairs: dict[str, list[Sample]] = {}
    for sample in load_builtin_suite("bias_detection").samples:
        assert sample.pair_id
        pairs.setdefault(sample.pair_id, []).append(sample)
    assert all(len(members) == 2 for members in pairs.values())
    privacy = load_builtin_suite("privacy_protection")
    assert all("pii" in {g.type for g in privacy.graders_for(s)} for s in privacy.samples)


def minimal_suite(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "my_suite",
        "graders": [{"type": "judge"}],
        "samples": [
            {
                "id": "s1",
                "messages": [{"role": "user", "content": "What is 2 + 2?"}],
                "key_points": ["four"],
                "numeric_answer": 4,
            }
        ],
    }
    data.update(overrides)
    return data


def test_custom_suite_defaults_to_custom_category() -> None:
    suite = suite_from_dict(minimal_suite(graders=[{"type": "judge"}, {"type": "numeric"}]))
    assert suite.category == SuiteCategory.custom
    assert [g.type for g in suite.graders_for(suite.samples[0])] == ["judge", "numeric"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"samples": []}, "samples: List should have at least 1 item"),
        ({"graders": [{"type": "vibes"}]}, "graders[0]"),
        ({"graders": [{"type": "regex", "pattern": "("}]}, "invalid regular expression"),
        ({"graders": [{"type": "contains"}]}, "contains needs at least one"),
        ({"graders": [{"type": "reading_level", "max_grade": -1}]}, "max_grade"),
        ({"name": "Has Spaces"}, "name:"),
        ({"name": "content_accuracy"}, "built-in suite"),
        (
            {"samples": [{"id": "a", "messages": [{"role": "assistant", "content": "hi"}]}]},
            "samples[0].messages",
        ),
        (
            {
                "samples": [
                    {"id": "a", "messages": [{"role": "user", "content": "q"}], "expect": "answer"},
                    {"id": "a", "messages": [{"role": "user", "content": "q"}], "expect": "answer"},
                ]
            },
            "duplicate sample id",
        ),
        (
            {
                "samples": [
                    {
                        "id": "a",
                        "messages": [{"role": "user", "content": "q"}],
                        "key_points": ["k"],
                        "graders": [{"type": "numeric"}],
                    }
                ]
            },
            "numeric grader needs 'numeric_answer'",
        ),
        (
            {"samples": [{"id": "a", "messages": [{"role": "user", "content": "q"}]}]},
            "a judge needs",
        ),
        ({"graders": [{"type": "refusal"}]}, "no grader applies to this sample"),
        (
            {"graders": [{"type": "judge"}, {"type": "refusal"}]},
            "refusal grader applies to no sample",
        ),
    ],
)
def test_custom_suite_errors_name_the_field(overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(SuiteError) as info:
        suite_from_dict(minimal_suite(**overrides))
    assert expected in str(info.value)


def test_custom_suite_must_be_a_mapping() -> None:
    with pytest.raises(SuiteError):
        suite_from_dict(["not", "a", "suite"])  # type: ignore[arg-type]


# ---- deterministic graders -------------------------------------------------------------


def sample(**fields: Any) -> Sample:
    base: dict[str, Any] = {"id": "x", "messages": [{"role": "user", "content": "q?"}]}
    base.update(fields)
    return Sample.model_validate(base)


_SPEC = TypeAdapter(GraderSpec)


def spec(data: dict[str, Any]) -> GraderSpec:
    return _SPEC.validate_python(data)


async def run_grader(data: dict[str, Any], output: str, **sample_fields: Any) -> Any:
    ctx = GradeContext(client=None, judge_model="j", semaphore=asyncio.Semaphore(1))  # type: ignore[arg-type]
    return await grade(spec(data), sample(**sample_fields), output, ctx)


async def test_refusal_grader_follows_expect() -> None:
    refusal = "I can\u2019t help with that. Please talk to a trusted adult."
    assert is_refusal(refusal)
    ok = await run_grader({"type": "refusal"}, refusal, expect="refuse")
    assert (ok.passed, ok.score, ok.errored) == (True, 1.0, False)
    complied = await run_grader({"type": "refusal"}, "Sure, here is how.", expect="refuse")
    assert (complied.passed, complied.score) == (False, 0.0)
    over = await run_grader({"type": "refusal"}, "I cannot help with fractions.", expect="answer")
    assert over.passed is False


async def test_numeric_grader_extracts_numbers() -> None:
    assert extract_numbers("7 x 8 = 56, or 1,000 and 3/4 and -2.5; 10-5") == [
        7.0, 8.0, 56.0, 1000.0, 0.75, -2.5, 10.0, 5.0,
    ]  # fmt: skip
    hit = await run_grader({"type": "numeric"}, "So the answer is 56.", numeric_answer=56)
    assert hit.passed and hit.score == 1.0
    frac = await run_grader(
        {"type": "numeric"}, "That makes 3/4 of the pizza.", numeric_answer=0.75
    )
    assert frac.passed
    miss = await run_grader({"type": "numeric"}, "It is 54.", numeric_answer=56)
    assert miss.passed is False and "found 54" in miss.rationale
    near = await run_grader(
        {"type": "numeric", "tolerance": 0.01}, "about 3.141", numeric_answer=3.14
    )
    assert near.passed


async def test_regex_contains_and_exact_graders() -> None:
    forbidden = {"type": "regex", "pattern": r"\b180\b", "must_match": False}
    assert (await run_grader(forbidden, "Multiply 15 by 12 yourself.")).passed
    assert not (await run_grader(forbidden, "It is 180.")).passed
    assert not (await run_grader(forbidden, "It is 180.")).errored
    contains = {"type": "contains", "any": ["trusted adult", "counselor"], "none": ["7/8"]}
    assert (await run_grader(contains, "Talk to a Trusted Adult.")).passed
    assert not (await run_grader(contains, "Ask a trusted adult: it is 7/8.")).passed
    assert not (await run_grader({"type": "contains", "all": ["a", "zz"]}, "abc")).passed
    exact = {"type": "exact"}
    assert (await run_grader(exact, "  Paris \n", reference="paris")).passed
    assert not (await run_grader(exact, "Paris, France", reference="Paris")).passed


async def test_reading_level_grader() -> None:
    easy = "Plants make food. They use light, air and water. Then they grow."
    hard = (
        "Photosynthetic organisms synthesize carbohydrates through photochemical reactions, "
        "utilizing electromagnetic radiation, atmospheric carbon dioxide, and water molecules."
    )
    assert flesch_kincaid_grade(easy) < 4 < 12 < flesch_kincaid_grade(hard)  # type: ignore[operator]
    spec_ = {"type": "reading_level", "max_grade": 8}
    assert (await run_grader(spec_, easy)).passed
    verdict = await run_grader(spec_, hard)
    assert verdict.passed is False and "Flesch-Kincaid grade" in verdict.rationale
    assert (await run_grader(spec_, "")).passed is False


async def test_pii_grader() -> None:
    assert find_pii("Write to emma.j@example.com") == ["email address"]
    assert find_pii("Call (555) 318-2290 or 555.201.4432") == ["phone number"]
    assert find_pii("SSN 078-05-1120") == ["social security number"]
    assert find_pii("card 4111 1111 1111 1111") == ["payment card number"]
    assert find_pii("not a card 4111 1111 1111 1112") == []
    clean = "In 1776 there were 13 colonies; 3,000 people; call or text 988; 2x + 5 = 17."
    assert find_pii(clean) == []
    assert (await run_grader({"type": "pii"}, clean)).passed
    leaked = await run_grader({"type": "pii"}, "Her number is 555-662-0193.")
    assert leaked.passed is False and "555" not in leaked.rationale


# ---- API-backed graders and the harness, through an in-memory client --------------------


def completion(content: str | None, model: str = "m") -> ChatCompletion:
    return ChatCompletion.model_validate(
        {
            "id": "c",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }
    )


class FakeClient:
    """Duck-types the parts of AsyncOpenAI the harness uses; records every request."""

    def __init__(
        self,
        answer: Callable[[str, str], str],
        judge: Callable[[dict[str, Any]], str] | None = None,
        flagged_words: tuple[str, ...] = ("stupid",),
    ) -> None:
        self.answer = answer
        self.judge = judge or (lambda req: json.dumps(
            {"score": 1.0, "passed": True, "rationale": "fine"}
        ))  # fmt: skip
        self.flagged_words = flagged_words
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        outer = self

        class _Completions:
            async def create(self, **kwargs: Any) -> ChatCompletion:
                return await outer._chat(**kwargs)

        class _Chat:
            completions = _Completions()

        class _Moderations:
            async def create(self, **kwargs: Any) -> ModerationCreateResponse:
                return outer._moderate(kwargs["input"])

        self.chat = _Chat()
        self.moderations = _Moderations()

    async def _chat(self, **kwargs: Any) -> ChatCompletion:
        self.requests.append(kwargs)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001)
            last = kwargs["messages"][-1]["content"]
            if "response_format" in kwargs:
                return completion(self.judge(json.loads(last)))
            return completion(self.answer(kwargs["model"], last))
        finally:
            self.in_flight -= 1

    def _moderate(self, text: str) -> ModerationCreateResponse:
        hit = any(word in text.lower() for word in self.flagged_words)
        names = [field.alias or name for name, field in Categories.model_fields.items()]
        categories = {name: hit and name == "harassment" for name in names}
        return ModerationCreateResponse.model_validate(
            {
                "id": "m",
                "model": "omni-moderation-latest",
                "results": [
                    {
                        "flagged": hit,
                        "categories": categories,
                        "category_scores": {k: 0.9 if v else 0.0 for k, v in categories.items()},
                        "category_applied_input_types": {k: ["text"] for k in categories},
                    }
                ],
            }
        )


def ctx_for(client: FakeClient) -> GradeContext:
    return GradeContext(client=client, judge_model="judge-m", semaphore=asyncio.Semaphore(4))  # type: ignore[arg-type]


def test_judge_reply_is_parsed_strictly() -> None:
    good = parse_reply('{"score": 1, "passed": true, "rationale": "ok"}')
    assert good is not None and good.score == 1.0
    for bad in [
        None,
        "",
        "Sure! The score is great.",
        '{"passed": true, "rationale": "The answer looks good to me."}',
        '{"score": "0.9", "passed": true, "rationale": "x"}',
        '{"score": 1.5, "passed": true, "rationale": "x"}',
        '{"score": true, "passed": true, "rationale": "x"}',
        "[0.5]",
    ]:
        assert parse_reply(bad) is None


async def test_judge_request_shape_and_settings() -> None:
    s = sample(key_points=["six sides"], reference="Six.", rubric="r", expect="answer")
    client = FakeClient(answer=lambda m, q: "")
    verdict = await grade(spec({"type": "judge"}), s, "It has six sides.", ctx_for(client))
    assert (verdict.score, verdict.passed, verdict.errored) == (1.0, True, False)
    request = client.requests[0]
    assert request["model"] == "judge-m" and request["temperature"] == 0
    assert isinstance(request["seed"], int)
    assert request["response_format"]["json_schema"]["name"] == "grade"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert request["messages"][0]["role"] == "system"
    assert json.loads(request["messages"][-1]["content"]) == json.loads(
        judge_request(s, "It has six sides.")
    )
    assert set(json.loads(judge_request(s, "a"))) == {
        "question", "answer", "reference", "key_points", "rubric", "expect",
    }  # fmt: skip


@pytest.mark.parametrize(
    "reply", ["Sure! The score is great.", '{"passed": true, "rationale": "looks good"}']
)
async def test_malformed_judge_output_is_an_error_never_a_score(reply: str) -> None:
    client = FakeClient(answer=lambda m, q: "", judge=lambda req: reply)
    verdict = await grade(spec({"type": "judge"}), sample(key_points=["k"]), "a", ctx_for(client))
    assert (verdict.errored, verdict.score, verdict.passed) == (True, None, None)
    assert verdict.rationale == MALFORMED


async def test_judge_pass_needs_both_flag_and_score() -> None:
    client = FakeClient(
        answer=lambda m, q: "",
        judge=lambda req: json.dumps({"score": 0.2, "passed": True, "rationale": "lenient"}),
    )
    verdict = await grade(spec({"type": "judge"}), sample(key_points=["k"]), "a", ctx_for(client))
    assert (verdict.score, verdict.passed) == (0.2, False)


async def test_moderation_grader() -> None:
    client = FakeClient(answer=lambda m, q: "")
    clean = await grade(spec({"type": "moderation"}), sample(), "You can do it!", ctx_for(client))
    assert clean.passed is True
    flagged = await grade(
        spec({"type": "moderation"}), sample(), "That is stupid.", ctx_for(client)
    )
    assert flagged.passed is False and flagged.score == 0.0 and "harassment" in flagged.rationale


def test_normalise_text_and_contamination() -> None:
    assert normalise_text("  What's   the\tCAPITAL of France?! ") == "what s the capital of france"
    suite = load_builtin_suite("content_accuracy")
    first = suite.samples[0]
    prompts = [first.prompt.upper() + "  ", "something else entirely"]
    fingerprints = {prompt_fingerprint(p) for p in prompts}
    assert contaminated_sample_ids(suite, fingerprints) == {first.id}


def tiny_suite() -> Suite:
    return suite_from_dict(
        {
            "name": "tiny",
            "category": "safety",
            "graders": [{"type": "moderation"}, {"type": "refusal"}, {"type": "numeric"}],
            "samples": [
                {"id": f"t{i}", "messages": [{"role": "user", "content": f"q{i}"}],
                 "expect": "answer", "numeric_answer": i}
                for i in range(10)
            ],
        }
    )  # fmt: skip


async def test_run_suite_grades_real_outputs() -> None:
    def answer(model: str, question: str) -> str:
        i = int(question[1:])
        if i == 3:
            return "Don't be stupid, it is 3."  # flagged by moderation
        if i == 4:
            return "I cannot help with that."  # over-refusal, wrong number
        return f"The answer is {i}."

    client = FakeClient(answer=answer)
    run = await run_suite(
        client,  # type: ignore[arg-type]  # duck-typed stand-in for AsyncOpenAI
        tiny_suite(),
        "ft:m",
        judge_model="j",
        concurrency=3,
        exclude_ids={"t9"},
    )
    score = run.score
    assert (score.n, score.passed, score.failed, score.errored, score.contaminated) == (
        10,
        7,
        2,
        0,
        1,
    )
    by_id = {s.sample_id: s for s in run.samples}
    assert by_id["t3"].score == pytest.approx(2 / 3) and by_id["t3"].passed is False
    assert by_id["t4"].score == pytest.approx(1 / 3)
    assert by_id["t9"].contaminated and by_id["t9"].output is None
    assert score.mean == pytest.approx((7 + 2 / 3 + 1 / 3) / 9)
    assert score.ci_low is not None and 0.0 <= score.ci_low <= score.mean <= score.ci_high <= 1.0  # type: ignore[operator]
    # Graded (2/3, 1/3) scores among the 0/1 ones: a bootstrap, over the 9 scored samples.
    assert score.interval_method == IntervalMethod.bootstrap and score.clusters == 9
    model_calls = [r for r in client.requests if "response_format" not in r]
    assert len(model_calls) == 9  # the contaminated sample is never asked
    assert all(r["temperature"] == 0 and r["seed"] == 7 for r in model_calls)
    assert client.max_in_flight <= 3


async def test_model_failures_and_judge_garbage_become_errored_samples() -> None:
    request = httpx2.Request("POST", "http://127.0.0.1/v1/chat/completions")

    def answer(model: str, question: str) -> str:
        if question == "q1":
            raise openai.APIConnectionError(request=request)
        return "An answer with 2 in it."

    suite = suite_from_dict(
        {
            "name": "tiny_judged",
            "graders": [{"type": "judge"}],
            "samples": [
                {"id": f"t{i}", "messages": [{"role": "user", "content": f"q{i}"}],
                 "key_points": ["point"]}
                for i in range(4)
            ],
        }
    )  # fmt: skip
    garbage_for = {"q2"}
    client = FakeClient(
        answer=answer,
        judge=lambda req: (
            "not json"
            if req["question"] in garbage_for
            else json.dumps({"score": 0.0, "passed": False, "rationale": "missed"})
        ),
    )
    run = await run_suite(client, suite, "m", judge_model="j")  # type: ignore[arg-type]
    by_id = {s.sample_id: s for s in run.samples}
    assert by_id["t1"].errored and "APIConnectionError" in (by_id["t1"].error or "")
    assert by_id["t2"].errored and by_id["t2"].score is None and by_id["t2"].passed is None
    assert by_id["t2"].error == f"judge: {MALFORMED}"
    assert (run.score.errored, run.score.failed, run.score.mean) == (2, 2, 0.0)
    summary = summarize([run.score], Thresholds(), ScoreWeights(), max_error_rate=0.2)
    assert summary.status == "error"
