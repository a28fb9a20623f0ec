"""What the self-hosted training step costs over a bare TRL script, on the same model and data.

    .venv/bin/python -m bench.training_overhead                 # tiny model, CPU, local store
    .venv/bin/python -m bench.training_overhead --store moto    # checkpoints to a local S3
    .venv/bin/python -m bench.training_overhead --store s3://bucket/prefix --s3-endpoint-url URL
    .venv/bin/python -m bench.training_overhead --hidden-size 512 --layers 8 --steps 200

Runs, alternated `--rounds` times so both see the same machine load:
1. bare: a plain TRL script in this process: the conversational dataset as TRL takes it
   (`assistant_only_loss=True`), `SFTTrainer` with the same PEFT LoRA config, the same
   SFTConfig and checkpoints written every `--checkpoint-steps`;
2. trainer: `run_trainer` (activities/training): the training subprocess, our
   tokenisation (weights honoured), the event callback, JSON events relayed to an async
   callback that serialises each one (what a heartbeat carries), and every checkpoint
   uploaded to the artifact store while training goes on, each upload timed.

Tokens/s is tokens processed (TRL's `num_tokens`) over seconds, three ways: steady
(from the end of step 10 to the last step, timed where each step's log arrives: in the
bare script's callback, and in the parent as the trainer's event is read, so the event's
trip through the pipe is inside); over the training loop (`train_runtime`, with a fresh
process's first, slower steps); and end to end (bare: load, tokenise, train, save; the
trainer: from the call to its result, so with the subprocess's start-up and imports).
The steady ratio is the per-step overhead, the one that grows with a long GPU job; the
end-to-end difference is a fixed cost in seconds. Each is reported as the best round (the
one least disturbed by other load on the machine) and the median; the load average is
printed with every round. On a CPU each run gets `--threads` threads (default 1: on a
shared machine, threads that wait on each other at every op make other load swing a
run's speed tenfold).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from activities.artifacts.local import LocalArtifactStore  # noqa: E402
from activities.artifacts.s3 import S3ArtifactStore  # noqa: E402
from activities.artifacts.store import ArtifactStore, files_under  # noqa: E402
from activities.training import (  # noqa: E402
    CheckpointEvent,
    ProgressEvent,
    TrainerEvent,
    TrainerSpec,
    run_trainer,
)
from core.training_config import SelfHostedTrainingConfig  # noqa: E402
from emulators.tiny_base_model import build_tiny_model, chat_texts  # noqa: E402

SAMPLE = ROOT / "examples" / "datasets" / "tutor-k12-good.jsonl"
MODELS = ROOT / ".run" / "bench-models"
TARGET_OVERHEAD = 0.03


@dataclass
class Run:
    tokens: int
    train_seconds: float
    total_seconds: float
    # (seconds, tokens so far) at every logged step, from step 1.
    marks: list[tuple[float, int]] = field(default_factory=list)
    uploads: list[float] = field(default_factory=list)
    uploaded_bytes: int = 0
    warmup_steps: int = 10

    @property
    def steady_rate(self) -> float:
        """Tokens/s after the first steps: what a fresh process spends warming up (the
        allocator, first calls of each op) is left out, so what remains is per step."""
        (start, start_tokens), (end, end_tokens) = self.marks[self.warmup_steps - 1], self.marks[-1]
        return (end_tokens - start_tokens) / (end - start)

    @property
    def loop_rate(self) -> float:
        return self.tokens / self.train_seconds

    @property
    def total_rate(self) -> float:
        return self.tokens / self.total_seconds


def model_dir(hidden_size: int, layers: int) -> Path:
    directory = MODELS / f"qwen2-h{hidden_size}-l{layers}"
    if not (directory / "model.safetensors").is_file():
        build_tiny_model(directory, chat_texts([SAMPLE]), hidden_size=hidden_size, layers=layers)
    return directory


def training_config(args: argparse.Namespace) -> SelfHostedTrainingConfig:
    return SelfHostedTrainingConfig(
        learning_rate=2e-4, batch_size=args.batch_size, max_steps=args.steps, seed=7
    )


def bare_run(args: argparse.Namespace, base: Path, dataset: Path, output: Path) -> Run:
    """The TRL script a user would write; settings mirror sft_training.sft_config."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    marks: list[tuple[float, int]] = []

    class Marks(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "num_tokens" in logs and "loss" in logs:
                marks.append((time.perf_counter(), int(logs["num_tokens"])))

    config = training_config(args)
    started = time.perf_counter()
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    bf16 = on_gpu and torch.cuda.is_bf16_supported()
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(
        base, dtype=torch.bfloat16 if bf16 else torch.float32
    )
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=str(output / "checkpoints"),
            learning_rate=config.learning_rate,
            num_train_epochs=config.n_epochs,
            max_steps=args.steps,
            per_device_train_batch_size=config.batch_size,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            max_length=args.max_seq_length,
            seed=7,
            save_strategy="steps",
            save_steps=args.checkpoint_steps,
            logging_steps=1,
            report_to="none",
            disable_tqdm=True,
            use_cpu=not on_gpu,
            bf16=bf16,
            activation_checkpointing=on_gpu,
            assistant_only_loss=True,
        ),
        train_dataset=load_dataset("json", data_files=str(dataset), split="train"),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules,
            task_type="CAUSAL_LM",
        ),
        callbacks=[Marks()],
    )
    output_metrics = trainer.train().metrics
    trainer.save_model(str(output / "adapter"))
    total = time.perf_counter() - started
    tokens = [entry["num_tokens"] for entry in trainer.state.log_history if "num_tokens" in entry]
    return Run(int(tokens[-1]), output_metrics["train_runtime"], total, marks)


async def trainer_run(
    args: argparse.Namespace, base: Path, dataset: Path, output: Path, store: ArtifactStore
) -> Run:
    uploads: list[asyncio.Task[float]] = []
    beats: list[str] = []
    marks: list[tuple[float, int]] = []

    async def upload(event: CheckpointEvent) -> float:
        started = time.perf_counter()
        await store.put_directory(f"bench/{output.name}/checkpoint-{event.step}", event.path)
        return time.perf_counter() - started

    async def on_event(event: TrainerEvent) -> None:
        beats.append(event.model_dump_json())  # what a heartbeat would carry
        if isinstance(event, ProgressEvent) and event.trained_tokens is not None:
            marks.append((time.perf_counter(), event.trained_tokens))
        if isinstance(event, CheckpointEvent):
            uploads.append(asyncio.create_task(upload(event)))

    spec = TrainerSpec(
        base_model_dir=base,
        dataset_path=dataset,
        output_dir=output,
        config=training_config(args),
        max_seq_length=args.max_seq_length,
        checkpoint_steps=args.checkpoint_steps,
        device=args.device,
    )
    started = time.perf_counter()
    done = await run_trainer(spec, on_event)
    upload_seconds = await asyncio.gather(*uploads)
    total = time.perf_counter() - started
    assert done.trained_tokens and done.train_seconds
    checkpoint = output / "checkpoints" / f"checkpoint-{args.checkpoint_steps}"
    one_checkpoint = sum((checkpoint / name).stat().st_size for name in files_under(checkpoint))
    return Run(
        done.trained_tokens, done.train_seconds, total, marks, list(upload_seconds), one_checkpoint
    )


@asynccontextmanager
async def artifact_store(args: argparse.Namespace, scratch: Path) -> AsyncIterator[ArtifactStore]:
    if args.store == "local":
        yield LocalArtifactStore(scratch / "store")
    elif args.store == "moto":
        from tests.support.s3_server import local_s3_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request

        with local_s3_server(buckets=["bench"]) as server:
            yield S3ArtifactStore("bench", "runs", endpoint_url=server.endpoint_url)
    elif args.store.startswith("s3://"):
        bucket, _, prefix = args.store.removeprefix("s3://").partition("/")
        yield S3ArtifactStore(bucket, prefix, endpoint_url=args.s3_endpoint_url)
    else:
        yield LocalArtifactStore(Path(args.store))


def write_dataset(path: Path, examples: int) -> Path:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:examples]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def report(args: argparse.Namespace, bare: list[Run], ours: list[Run]) -> float:
    """Best of the rounds (the least disturbed by other load) and the median."""

    def best(runs: list[Run], attribute: str) -> float:
        return max(getattr(run, attribute) for run in runs)

    def median(runs: list[Run], attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in runs)

    print(
        f"\n{platform.machine()}, {os.cpu_count()} CPUs, device {args.device}, "
        f"{args.threads or 'default'} CPU threads, {args.steps} steps of {args.batch_size}, "
        f"{args.rounds} rounds"
    )
    print(
        f"{'tok/s':8}{'tokens':>8}{'steady best':>13}{'steady median':>15}"
        f"{'loop best':>11}{'loop median':>13}{'e2e best':>10}"
    )
    for name, runs in (("bare", bare), ("trainer", ours)):
        print(
            f"{name:8}{median(runs, 'tokens'):>8.0f}{best(runs, 'steady_rate'):>13.0f}"
            f"{median(runs, 'steady_rate'):>15.0f}{best(runs, 'loop_rate'):>11.0f}"
            f"{median(runs, 'loop_rate'):>13.0f}{best(runs, 'total_rate'):>10.0f}"
        )
    for label, attribute in (
        (f"steady (after step {bare[0].warmup_steps})", "steady_rate"),
        ("training loop", "loop_rate"),
    ):
        ratio = best(ours, attribute) / best(bare, attribute)
        median_ratio = median(ours, attribute) / median(bare, attribute)
        print(
            f"{label}, trainer/bare tokens/s: best {ratio:.3f} ({1 / ratio - 1:+.1%} time, "
            f"aim <= {TARGET_OVERHEAD:.0%}), median {median_ratio:.3f}"
        )
    overhead = best(bare, "steady_rate") / best(ours, "steady_rate") - 1
    fixed = min(run.total_seconds for run in ours) - min(run.total_seconds for run in bare)
    print(
        f"end to end, best: bare {min(run.total_seconds for run in bare):.2f} s "
        f"(in process: load, tokenise, train, save), trainer "
        f"{min(run.total_seconds for run in ours):.2f} s: {fixed:+.2f} s fixed "
        "(subprocess start-up and imports)"
    )
    uploads = [seconds for run in ours for seconds in run.uploads]
    print(
        f"checkpoint upload ({args.store}, {ours[0].uploaded_bytes / 1e6:.2f} MB each): "
        f"median {statistics.median(uploads):.3f} s, max {max(uploads):.3f} s over "
        f"{len(uploads)}, concurrent with training"
    )
    return overhead


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--checkpoint-steps", type=int, default=20)
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per run (OMP_NUM_THREADS); 0 keeps torch's default",
    )
    parser.add_argument(
        "--store", default="local", help="local, moto, s3://bucket/prefix, or a folder"
    )
    parser.add_argument("--s3-endpoint-url", default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local folders only, here as in the child
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    if args.threads:
        # On a shared CPU, threads waiting on each other at every op turn other load into
        # 10x swings; one thread per run keeps both sides comparable. The child inherits it.
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
        import torch

        torch.set_num_threads(args.threads)

    base = model_dir(args.hidden_size, args.layers)
    bare: list[Run] = []
    ours: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="training-overhead-") as scratch_name:
        scratch = Path(scratch_name)
        dataset = write_dataset(scratch / "train.jsonl", args.examples)
        async with artifact_store(args, scratch) as store:
            for round_number in range(args.rounds):
                bare.append(bare_run(args, base, dataset, scratch / f"bare-{round_number}"))
                ours.append(
                    await trainer_run(args, base, dataset, scratch / f"ours-{round_number}", store)
                )
                print(
                    f"round {round_number + 1}: bare {bare[-1].loop_rate:.0f} tok/s, "
                    f"trainer {ours[-1].loop_rate:.0f} tok/s (training loop), "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    report(args, bare, ours)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
