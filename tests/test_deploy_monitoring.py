"""The Prometheus alert rules and the Grafana dashboard in deploy/: well-formed, written only
against the service's metric names, and (where promtool is installed) accepted by
`promtool check rules` and firing as intended in `promtool test rules` scenarios."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = REPO / "deploy" / "grafana" / "model-trainer.json"

METRICS = frozenset(
    {
        "trainer_jobs_total",
        "trainer_jobs_in_stage",
        "trainer_job_stage_age_seconds_max",
        "trainer_provider_requests_total",
        "trainer_evaluation_samples_total",
        "trainer_step_duration_seconds",
        "trainer_registry_requests_total",
        "trainer_training_cost_usd_total",
        "trainer_training_tokens_total",
    }
)
HISTOGRAMS = frozenset({"trainer_step_duration_seconds"})
SERIES = METRICS | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
SEVERITIES = {"info", "warning", "critical"}

PROMQL_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "inf",
        "nan",
        "atan2",
    }
)
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed (Debian: apt-get install -y --no-install-recommends "
    "prometheus)",
)


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords, label names and
    Grafana variables left out)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\{?[\w.]+\}?", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", text):
        word = match.group()
        if text[match.end() :].lstrip().startswith("(") or word.lower() in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


# ---- alert rules --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rule_file() -> dict[str, Any]:
    loaded = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict) and loaded.get("groups"), "alerts.yml has no groups"
    return loaded


def alert_rules(rule_file: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for group in rule_file["groups"]:
        yield from group["rules"]


def test_every_rule_is_complete(rule_file: dict[str, Any]) -> None:
    names = []
    for group in rule_file["groups"]:
        assert group.get("name") and group.get("rules"), group
        for rule in group["rules"]:
            name = rule.get("alert")
            assert name, f"group {group['name']}: a rule without `alert` (recording rules "
            "do not belong in alerts.yml)"
            names.append(name)
            assert isinstance(rule.get("expr"), str) and rule["expr"].strip(), name
            assert re.fullmatch(r"\d+[smhd]", str(rule.get("for", ""))), f"{name}: `for`"
            assert rule.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity"
            summary = rule.get("annotations", {}).get("summary")
            assert isinstance(summary, str) and summary.strip(), f"{name}: annotations.summary"
    assert len(names) == len(set(names)), "alert names repeat"


def test_rules_use_only_the_service_metrics(rule_file: dict[str, Any]) -> None:
    used: set[str] = set()
    for rule in alert_rules(rule_file):
        names = metric_names(rule["expr"])
        assert names, f"{rule['alert']}: selects no metric"
        assert names <= SERIES, f"{rule['alert']}: unknown metrics {names - SERIES}"
        used |= names
    # What the issue asks to alert on: failures, stuck stages, provider and evaluation errors.
    assert {
        "trainer_jobs_total",
        "trainer_job_stage_age_seconds_max",
        "trainer_provider_requests_total",
        "trainer_evaluation_samples_total",
    } <= used


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _alert(name: str, **labels: str) -> dict[str, Any]:
    return {"alertname": name, "exp_alerts": [{"exp_labels": labels}] if labels else []}


def _firing(name: str, severity: str, **labels: str) -> dict[str, Any]:
    return _alert(name, severity=severity, service="model-trainer", **labels)


SCENARIOS: list[dict[str, Any]] = [
    {  # t1 fails 2 of 3 jobs a minute, t2 never fails: overall 40% failed.
        "interval": "1m",
        "input_series": [
            {"series": 'trainer_jobs_total{status="completed",tenant="t1"}', "values": "0+1x180"},
            {"series": 'trainer_jobs_total{status="failed",tenant="t1"}', "values": "0+2x180"},
            {"series": 'trainer_jobs_total{status="completed",tenant="t2"}', "values": "0+2x180"},
        ],
        "alert_rule_test": [
            {"eval_time": "2h", "alertname": a["alertname"], "exp_alerts": a["exp_alerts"]}
            for a in (
                _firing("TrainerJobFailureRateHigh", "warning"),
                _alert("TrainerJobFailureRateCritical"),
                _firing("TrainerTenantJobFailures", "warning", tenant="t1"),
            )
        ],
    },
    {  # Healthy: nothing fails, nothing waits.
        "interval": "1m",
        "input_series": [
            {"series": 'trainer_jobs_total{status="completed",tenant="t1"}', "values": "0+5x180"},
            {
                "series": 'trainer_job_stage_age_seconds_max{stage="training"}',
                "values": "3600+60x180",
            },
            {
                "series": 'trainer_provider_requests_total{provider="openai",'
                'operation="create_job",'
                'code="200"}',
                "values": "0+10x180",
            },
            {
                "series": 'trainer_evaluation_samples_total{suite="harmful_content",'
                'outcome="passed"}',
                "values": "0+20x180",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "2h", "alertname": name, "exp_alerts": []}
            for name in (
                "TrainerJobFailureRateHigh",
                "TrainerJobTrainingTooLong",
                "TrainerProviderErrorBurst",
                "TrainerEvaluationErrorRateHigh",
            )
        ],
    },
    {  # Stuck: a job waits in `accepted` and another in `validating`.
        "interval": "1m",
        "input_series": [
            {"series": 'trainer_job_stage_age_seconds_max{stage="accepted"}', "values": "0+60x60"},
            {
                "series": 'trainer_job_stage_age_seconds_max{stage="validating"}',
                "values": "0+60x60",
            },
            {
                "series": 'trainer_job_stage_age_seconds_max{stage="training"}',
                "values": "3600+60x60",
            },
            {
                "series": 'trainer_job_stage_age_seconds_max{stage="awaiting_approval"}',
                "values": "259000+60x100",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "12m", "alertname": "TrainerJobsNotPickedUp", "exp_alerts": []},
            {"eval_time": "45m", **_firing("TrainerJobsNotPickedUp", "critical", stage="accepted")},
            {
                "eval_time": "45m",
                **_firing("TrainerJobStuckInValidation", "warning", stage="validating"),
            },
            {"eval_time": "45m", **_alert("TrainerJobTrainingTooLong")},
            {
                "eval_time": "90m",
                **_firing("TrainerJobAwaitingApprovalTooLong", "info", stage="awaiting_approval"),
            },
        ],
    },
    {  # A third of the provider's create_job calls answer 500; registry writes fail half.
        "interval": "1m",
        "input_series": [
            {
                "series": 'trainer_provider_requests_total{provider="openai",'
                'operation="create_job",'
                'code="200"}',
                "values": "0+10x40",
            },
            {
                "series": 'trainer_provider_requests_total{provider="openai",'
                'operation="create_job",'
                'code="500"}',
                "values": "0+5x40",
            },
            {
                "series": 'trainer_provider_requests_total{provider="openai",'
                'operation="retrieve_job",code="200"}',
                "values": "0+30x40",
            },
            {
                "series": 'trainer_registry_requests_total{operation="create_version",code="201"}',
                "values": "0+2x40",
            },
            {
                "series": 'trainer_registry_requests_total{operation="create_version",code="503"}',
                "values": "0+2x40",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "30m",
                **_firing(
                    "TrainerProviderErrorBurst",
                    "warning",
                    provider="openai",
                    operation="create_job",
                ),
            },
            {"eval_time": "30m", **_alert("TrainerProviderDown")},
            {"eval_time": "30m", **_alert("TrainerProviderRateLimited")},
            {
                "eval_time": "30m",
                **_firing("TrainerRegistryErrors", "warning", operation="create_version"),
            },
        ],
    },
    {  # One suite errors on a fifth of its samples; across suites it stays under 20%.
        "interval": "1m",
        "input_series": [
            {
                "series": 'trainer_evaluation_samples_total{suite="harmful_content",'
                'outcome="passed"}',
                "values": "0+20x60",
            },
            {
                "series": 'trainer_evaluation_samples_total{suite="harmful_content",'
                'outcome="errored"}',
                "values": "0+5x60",
            },
            {
                "series": 'trainer_evaluation_samples_total{suite="content_accuracy",'
                'outcome="passed"}',
                "values": "0+30x60",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "45m",
                **_firing("TrainerEvaluationErrorRateHigh", "warning", suite="harmful_content"),
            },
            {"eval_time": "45m", **_alert("TrainerEvaluationErrorRateCritical")},
        ],
    },
    {  # A tenant spending a dollar a minute passes 500 USD a day after about 8.5 hours.
        "interval": "1m",
        "input_series": [
            {
                "series": 'trainer_training_cost_usd_total{tenant="t1",base_model="gpt-4o-mini"}',
                "values": "0+1x700",
            },
        ],
        "alert_rule_test": [
            {"eval_time": "6h", **_alert("TrainerTenantSpendHigh")},
            {"eval_time": "10h", **_firing("TrainerTenantSpendHigh", "info", tenant="t1")},
        ],
    },
]


@needs_promtool
def test_alerts_fire_in_promtool_scenarios(rule_file: dict[str, Any], tmp_path: Path) -> None:
    """Each scenario's alerts fire (or stay quiet) with the expected labels. The rules are
    copied without annotations, so scenarios need not restate every rendered text."""
    assert PROMTOOL is not None
    bare = {
        "groups": [
            {**g, "rules": [{k: v for k, v in r.items() if k != "annotations"} for r in g["rules"]]}
            for g in rule_file["groups"]
        ]
    }
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(bare), encoding="utf-8")
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": SCENARIOS}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests), encoding="utf-8")
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# ---- dashboard ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        if variable.get("type") == "query":
            text = query["query"] if isinstance(query, dict) else query
            # Grafana's label_values(metric, label) names a metric, then a label.
            text = re.sub(r"label_values\(\s*([^,()]+),\s*\w+\s*\)", r"\1", text)
            yield f"variable {variable['name']}", text


def test_dashboard_uses_only_the_service_metrics(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for where, expr in dashboard_queries(dashboard):
        names = metric_names(expr)
        assert names, f"{where}: selects no metric"
        assert names <= SERIES, f"{where}: unknown metrics {names - SERIES}"
        used |= names
    unused = {m for m in METRICS if not any(n.startswith(m) for n in used)}
    assert not unused, f"metrics without a panel: {unused}"


def test_dashboard_layout(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    for panel in panels(dashboard):
        grid = panel["gridPos"]
        assert 0 <= grid["x"] and grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"], f"{panel['title']}: no query"
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    for where, expr in dashboard_queries(dashboard):
        for name in re.findall(r"\$(\w+)", expr):
            assert name.startswith("__") or name in variables, f"{where}: ${name} undefined"


def test_metric_name_extraction() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (step, le) (rate(trainer_step_duration_seconds_bucket"
        '{tenant=~"$tenant"}[5m]))) / on(step) group_left() foo:bar offset 1h > bool 1e3'
    )
    assert metric_names(expr) == {"trainer_step_duration_seconds_bucket", "foo:bar"}
