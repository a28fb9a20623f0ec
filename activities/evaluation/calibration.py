"""Judge calibration: run the configured rubric judge over each model-graded suite's gold set
(answers a person graded) and report how often it agrees with them.

    python -m activities.evaluation.calibration [--suite NAME ...] [--no-store] [--json]
    trainer calibrate-judge [--suite NAME ...] [--no-store] [--json]

The judge is reached exactly as an evaluation reaches it (`judge_endpoint` from the
deployment's `eval_judge_*` settings, the judge grader, the completion cache), so a
calibration speaks for the judge that grades. Each suite's result (agreement, Cohen's
kappa, the confusion matrix with the human verdict as truth) is stored per judge model and
prompt version; evaluations read the latest one (`activities.evaluation.judge_status`).
Calibration runs on demand, not inside evaluations: it is a property of the deployment's
judge, rerun when the judge model, its prompt or a gold set changes. Cached judge replies
make a rerun with nothing changed free.

Exit codes: 0 every suite calibrated; 2 usage error; 4 a suite is below the floor or the
judge gave no verdict on some gold item (such a run is not stored).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg

from activities.evaluation.agreement import agreement, cohen_kappa, confusion
from activities.evaluation.cache import CompletionCache
from activities.evaluation.endpoints import InferenceClients, judge_endpoint
from activities.evaluation.graders.base import CallTarget, GradeContext, GraderVerdict
from activities.evaluation.graders.judge import JUDGE_PROMPT_VERSION, grade_judge
from activities.evaluation.ratelimit import RateLimitGate
from core.db import open_database
from core.evaluation import EvaluationEndpointSettings
from core.evaluation_suites import (
    GOLD_DIR,
    JudgeSpec,
    Suite,
    load_builtin_suite,
    load_gold_set,
    model_graded_builtin_suites,
    sample_by_id,
)
from core.judge_calibration import SuiteCalibration
from core.openai_client import make_openai_client
from core.settings import Settings
from store import judge_calibrations
from store.completion_cache import PgCompletionCache

EXIT_OK, EXIT_USAGE, EXIT_UNCALIBRATED = 0, 2, 4


def gold_sha256(suite: str) -> str:
    return hashlib.sha256((GOLD_DIR / f"{suite}.yaml").read_bytes()).hexdigest()


def judge_spec(suite: Suite, sample_id: str) -> JudgeSpec:
    """The judge grader the evaluation runs on this sample (its pass score, its model)."""
    sample = sample_by_id(suite, sample_id)
    for spec in suite.graders_for(sample):
        if isinstance(spec, JudgeSpec):
            return spec
    raise KeyError(f"{sample_id} is not judged")


def suite_judge_model(suite: Suite, default: str) -> str:
    """The judge model of a suite: a suite may name its own (`{type: judge, model: ...}`)."""
    models = {
        spec.model
        for s in suite.samples
        for spec in suite.graders_for(s)
        if isinstance(spec, JudgeSpec) and spec.model
    }
    return models.pop() if len(models) == 1 else default


async def calibrate_suite(name: str, ctx: GradeContext) -> SuiteCalibration:
    """Grade every gold item of built-in suite `name` with the judge; compare verdicts."""
    suite, gold = load_builtin_suite(name), load_gold_set(name)
    verdicts: list[GraderVerdict] = await asyncio.gather(
        *(
            grade_judge(
                judge_spec(suite, item.sample), sample_by_id(suite, item.sample), item.answer, ctx
            )
            for item in gold.items
        )
    )
    # An errored call is no verdict: it is counted apart and left out of the matrix.
    pairs = [
        (item.passed, bool(v.passed))
        for item, v in zip(gold.items, verdicts, strict=True)
        if not v.errored
    ]
    matrix = confusion(pairs)
    return SuiteCalibration(
        suite=name,
        judge_model=suite_judge_model(suite, ctx.judge_model),
        prompt_version=JUDGE_PROMPT_VERSION,
        gold_sha256=gold_sha256(name),
        n=len(gold.items),
        errored=sum(1 for v in verdicts if v.errored),
        agreement=agreement(matrix),
        kappa=cohen_kappa(matrix),
        confusion=matrix,
    )


def is_calibrated(result: SuiteCalibration, floor: float) -> bool:
    return result.errored == 0 and result.agreement is not None and result.agreement >= floor


def judge_context(
    settings: Settings, clients: InferenceClients, cache: CompletionCache | None
) -> GradeContext:
    """The evaluation's judge: its endpoint, retry budget, rate gate and cache scope."""
    endpoint = judge_endpoint(clients, EvaluationEndpointSettings.from_settings(settings))
    target = CallTarget(
        client=endpoint.client.with_options(max_retries=settings.eval_max_retries),
        cache_scope=endpoint.cache_scope,
        gate=RateLimitGate(max_pause_seconds=settings.eval_max_rate_limit_pause_seconds),
        provider=endpoint.provider,
    )
    return GradeContext(
        client=target.client,
        judge_model=endpoint.model,
        semaphore=asyncio.Semaphore(settings.eval_concurrency),
        cache=cache,
        judge_target=target,
    )


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(results: Sequence[SuiteCalibration], floor: float) -> str:
    """One line per suite: n, agreement, kappa, the confusion matrix, errors, status."""
    header = ("suite", "n", "agree", "kappa", "TP", "FP", "FN", "TN", "err", "status")
    rows = [
        (
            r.suite,
            str(r.n),
            _number(r.agreement),
            _number(r.kappa),
            *(str(getattr(r.confusion, cell)) for cell in ("tp", "fp", "fn", "tn")),
            str(r.errored),
            "calibrated" if is_calibrated(r, floor) else "uncalibrated",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in (0, 9) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    judge = results[0] if results else None
    title = (
        f"judge {judge.judge_model} · prompt {judge.prompt_version} · agreement floor {floor:.2f}"
        if judge
        else "no suites calibrated"
    )
    return "\n".join([title, line(header), *(line(row) for row in rows)])


async def run_calibration(
    settings: Settings, suites: Sequence[str], *, pool: asyncpg.Pool | None
) -> list[SuiteCalibration]:
    """Calibrate `suites`; with a pool, replies are cached and complete runs stored."""
    openai = make_openai_client(settings)
    clients = InferenceClients(settings, lambda: openai)
    try:
        ctx = judge_context(settings, clients, PgCompletionCache(pool) if pool else None)
        results = [await calibrate_suite(name, ctx) for name in suites]
    finally:
        await clients.close()
        await openai.close()
    if pool is not None:
        for result in results:
            if result.errored == 0:  # an incomplete run would stand for the judge
                await judge_calibrations.save_calibration(pool, result)
    return results


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m activities.evaluation.calibration",
        description="Run the configured rubric judge over the gold sets and report agreement, "
        "Cohen's kappa and the confusion matrix per suite.",
    )
    parser.add_argument(
        "--suite", action="append", default=None, help="a model-graded suite (repeatable)"
    )
    parser.add_argument(
        "--no-store", action="store_true", help="use no database: no cache, nothing recorded"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    return parser


async def _main(args: argparse.Namespace, settings: Settings) -> list[SuiteCalibration]:
    pool = None if args.no_store else await open_database(settings.database_url, max_size=2)
    try:
        return await run_calibration(settings, args.suite, pool=pool)
    finally:
        if pool is not None:
            await pool.close()


def main(
    argv: Sequence[str] | None = None, *, settings: Settings | None = None, out: TextIO = sys.stdout
) -> int:
    args = _parser().parse_args(argv)
    known = model_graded_builtin_suites()
    args.suite = args.suite or known
    unknown = [name for name in args.suite if name not in known]
    if unknown:
        # repr: a name with control characters is shown escaped, not written to the terminal.
        shown = ", ".join(repr(name) for name in unknown)
        print(
            f"not a model-graded built-in suite: {shown} (known: {', '.join(known)})",
            file=sys.stderr,
        )
        return EXIT_USAGE
    settings = settings or Settings()
    floor = settings.eval_judge_agreement_floor
    results = asyncio.run(_main(args, settings))
    if args.json:
        payload = [
            r.model_dump(mode="json") | {"calibrated": is_calibrated(r, floor)} for r in results
        ]
        print(json.dumps({"agreement_floor": floor, "suites": payload}, indent=2), file=out)
    else:
        print(format_table(results, floor), file=out)
    return EXIT_OK if all(is_calibrated(r, floor) for r in results) else EXIT_UNCALIBRATED


if __name__ == "__main__":
    sys.exit(main())
