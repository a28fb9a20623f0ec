"""Dataset analysis speed: `analyze_dataset` against the speed limit and the cookbook.

For each size, a chat dataset is generated into a temporary folder, then three runs, each in
its own process so peak RSS is its own:

- analyze:   `analyze_dataset` (validation, token stats, cost, PII, datasheet) in one pass;
- raw_batch: `encoding.encode_ordinary_batch` over the same message texts, timing only the
             encode calls (texts are read in 4 MB batches, untimed): the speed limit for
             exact counting;
- cookbook:  a plain re-implementation of OpenAI's chat data-prep cookbook: `json.loads`
             every line into a list, its format checks, then per-message `encode` for the
             conversation and the assistant tokens, numpy distributions, epochs, billing.

MB/s is file size / wall time (raw_batch: encode time only), after imports and the encoding
load (once per worker process in the service). Peak RSS is the process's `ru_maxrss`,
interpreter and encodings included.
Run: `python -m bench.validator_speed [--sizes 10,100] [--with-1gb] [--ids]`.
`--ids` puts an id like `Q1234567` after every tenth word of user turns (digit runs that
wake the phone-number scan). `--pii` instead times the PII scan alone (`find_pii`, ns per
character) on texts of 4 KB to 512 KB: plain words, ids, and texts dense with SSNs or cards.
`--line-mib N` validates one N MiB line of empty messages (two findings each) and prints its
time and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

MB = 1_000_000
BASE_MODEL = "gpt-4o-mini-2024-07-18"
VARIANTS = ("analyze", "raw_batch", "cookbook")
COOKBOOK_KEYS = ("role", "content", "name", "function_call", "weight")

_WORDS = (
    "the a of to and in is that for it as with was on be by this are from or an at which "
    "photosynthesis fraction denominator numerator equation triangle hypotenuse energy "
    "molecule cell student teacher lesson reading writing grammar sentence paragraph history "
    "revolution democracy multiply divide add subtract answer question example explain "
    "because therefore however planet orbit gravity force velocity acceleration chemical "
    "reaction atom electron proton verb noun adjective adverb poem story character setting "
    "plot theme"
).split()
_SYSTEM = (
    "You are a patient K-12 tutor. Explain step by step and check understanding.",
    "You are a helpful math tutor for grade 7 students. Keep answers short and clear.",
    "You are a science teacher. Use simple words and one everyday example per answer.",
    "You are a reading coach for early learners. Be encouraging and concrete.",
)


class RunResult(BaseModel):
    variant: str
    size_bytes: int
    seconds: float
    mb_per_s: float
    peak_rss_mb: float
    tokens: int


# ---- data ----------------------------------------------------------------------------------


IDS = False  # set by --ids (child processes get it through the dataset file)


def _sentence(rng: random.Random, words: int, ids: bool = False) -> str:
    out: list[str] = []
    for i, word in enumerate(rng.choices(_WORDS, k=words)):
        roll = rng.random()
        out.append(word + rng.choice(",.?:") if roll < 0.08 else word)
        if roll > 0.97:
            out.append(str(rng.randint(0, 999)))
        if ids and i % 10 == 9:
            out.append(f"Q{rng.randrange(10**7):07d}")
    text = " ".join(out)
    return text[0].upper() + text[1:] + "."


def _example(rng: random.Random, n: int) -> dict[str, Any]:
    messages = [{"role": "system", "content": rng.choice(_SYSTEM)}]
    for _ in range(rng.choice((1, 1, 1, 2))):
        user = _sentence(rng, rng.randint(10, 60), IDS)
        if n % 997 == 0:  # a little PII, as real data has
            user += f" My email is student{n}@example.org."
        messages.append({"role": "user", "content": user})
        messages.append({"role": "assistant", "content": _sentence(rng, rng.randint(40, 250))})
    return {"messages": messages}


def generate(path: Path, size: int, seed: int = 7) -> None:
    """About `size` bytes of distinct chat examples (~1.8 KB each)."""
    rng = random.Random(seed)
    written = n = 0
    with path.open("w", encoding="utf-8") as out:
        while written < size:
            n += 1
            line = json.dumps(_example(rng, n)) + "\n"
            out.write(line)
            written += len(line)


# ---- variants (each runs in a child process) ---------------------------------------------


def run_analyze(path: Path) -> int:
    from activities.datasets.analysis import analyze_dataset
    from core.settings import Settings

    result = analyze_dataset(
        path,
        fmt="chat",
        base_model=BASE_MODEL,
        datasheet={"source": "bench", "license": "proprietary", "redaction": "none"},
        tenant_id="bench",
        restrictions={},
        n_epochs=None,
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
    )
    if result.report.error_count:
        raise SystemExit(result.errors_text())
    return result.tokens.tokens


def run_raw_batch(path: Path) -> tuple[int, float]:
    from activities.datasets.tokens import encoding_for_model

    encoding = encoding_for_model(BASE_MODEL)
    total = 0
    encode_seconds = 0.0
    batch: list[str] = []
    chars = 0
    with path.open("rb") as handle:
        for line in handle:
            for message in json.loads(line)["messages"]:
                batch.append(message["content"])
                chars += len(message["content"])
            if chars >= 4 * MB:
                start = time.perf_counter()
                total += sum(map(len, encoding.encode_ordinary_batch(batch)))
                encode_seconds += time.perf_counter() - start
                batch, chars = [], 0
    start = time.perf_counter()
    total += sum(map(len, encoding.encode_ordinary_batch(batch)))
    encode_seconds += time.perf_counter() - start
    return total, encode_seconds


def run_cookbook(path: Path) -> int:
    import numpy as np

    from activities.datasets.tokens import encoding_for_model

    encoding = encoding_for_model(BASE_MODEL)
    with path.open(encoding="utf-8") as f:
        dataset = [json.loads(line) for line in f]

    format_errors: dict[str, int] = defaultdict(int)
    for ex in dataset:
        if not isinstance(ex, dict):
            format_errors["data_type"] += 1
            continue
        messages = ex.get("messages", None)
        if not messages:
            format_errors["missing_messages_list"] += 1
            continue
        for message in messages:
            if "role" not in message or "content" not in message:
                format_errors["message_missing_key"] += 1
            if any(k not in COOKBOOK_KEYS for k in message):
                format_errors["message_unrecognized_key"] += 1
            if message.get("role", None) not in ("system", "user", "assistant", "function"):
                format_errors["unrecognized_role"] += 1
            content = message.get("content", None)
            function_call = message.get("function_call", None)
            if (not content and not function_call) or not isinstance(content, str):
                format_errors["missing_content"] += 1
        if not any(message.get("role", None) == "assistant" for message in messages):
            format_errors["example_missing_assistant_message"] += 1

    def num_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
        num_tokens = 0
        for message in messages:
            num_tokens += 3
            for key, value in message.items():
                num_tokens += len(encoding.encode(value))
                if key == "name":
                    num_tokens += 1
        return num_tokens + 3

    def num_assistant_tokens_from_messages(messages: list[dict[str, Any]]) -> int:
        return sum(len(encoding.encode(m["content"])) for m in messages if m["role"] == "assistant")

    n_missing_system = n_missing_user = 0
    n_messages: list[int] = []
    convo_lens: list[int] = []
    assistant_message_lens: list[int] = []
    for ex in dataset:
        messages = ex["messages"]
        if not any(message["role"] == "system" for message in messages):
            n_missing_system += 1
        if not any(message["role"] == "user" for message in messages):
            n_missing_user += 1
        n_messages.append(len(messages))
        convo_lens.append(num_tokens_from_messages(messages))
        assistant_message_lens.append(num_assistant_tokens_from_messages(messages))
    for values in (n_messages, convo_lens, assistant_message_lens):
        arr = np.array(values)
        _ = (arr.min(), arr.max(), arr.mean(), np.median(arr), np.quantile(arr, [0.1, 0.9]))
    max_tokens = 65_536
    _ = sum(length > max_tokens for length in convo_lens)
    n_train = len(dataset)
    n_epochs = 3
    if n_train * n_epochs < 100:
        n_epochs = min(25, 100 // n_train)
    elif n_train * n_epochs > 25_000:
        n_epochs = max(1, 25_000 // n_train)
    billing = sum(min(max_tokens, length) for length in convo_lens)
    _ = billing * n_epochs
    return sum(convo_lens)


def child(variant: str, path: Path) -> None:
    # Imports and the encoding load happen once per worker process, not per dataset: warm
    # them before the clock starts.
    import numpy  # noqa: F401

    import activities.datasets.analysis  # noqa: F401
    from activities.datasets.tokens import encoding_for_model

    encoding_for_model(BASE_MODEL)
    start = time.perf_counter()
    if variant == "raw_batch":
        tokens, seconds = run_raw_batch(path)
    else:
        tokens = run_analyze(path) if variant == "analyze" else run_cookbook(path)
        seconds = time.perf_counter() - start
    size = path.stat().st_size
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result = RunResult(
        variant=variant,
        size_bytes=size,
        seconds=round(seconds, 2),
        mb_per_s=round(size / MB / seconds, 1),
        peak_rss_mb=round(rss_mb, 1),
        tokens=tokens,
    )
    print(result.model_dump_json())


# ---- PII scan alone ------------------------------------------------------------------------

PII_TEXTS = {
    "words": lambda rng, n: _sentence(rng, n // 6),
    "ids": lambda rng, n: _sentence(rng, n // 7, ids=True),
    "ssn-dense": lambda rng, n: " ".join(["123-45-6789"] * (n // 12)),
    "card-dense": lambda rng, n: " ".join(["4111111111111111"] * (n // 17)),
}


def run_pii() -> None:
    from activities.datasets.pii import find_pii

    print(f"# {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    print("| text | chars | ns/char | found |")
    print("|---|---|---|---|")
    for name, make in PII_TEXTS.items():
        for size in (4_000, 64_000, 512_000):
            text = make(random.Random(3), size)
            reps = max(1, 256_000 // size)
            start = time.perf_counter()
            for _ in range(reps):
                found = find_pii(text)
            per_char = (time.perf_counter() - start) / reps / len(text) * 1e9
            print(f"| {name} | {len(text)} | {per_char:.0f} | {found} |", flush=True)


def run_big_line(mib: int) -> None:
    from activities.datasets.validator import validate_lines

    empties = mib * 1024 * 1024 // 3
    hostile = b'{"messages":[' + b"{}," * empties + b'{"role":"assistant","content":"x"}]}\n'
    start = time.perf_counter()
    report = validate_lines([hostile])
    seconds = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kept = sum(len(s.examples) for s in report.errors)
    print(
        f"{mib} MiB line: {seconds:.1f} s, peak RSS {rss_mb:.0f} MB, "
        f"{report.error_count} errors, {kept} kept"
    )


# ---- driver --------------------------------------------------------------------------------


def measure(variant: str, path: Path) -> RunResult:
    out = subprocess.run(
        [sys.executable, "-m", "bench.validator_speed", "--child", variant, str(path)],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    return RunResult.model_validate_json(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}, Python {platform.python_version()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100", help="dataset sizes in MB")
    parser.add_argument("--with-1gb", action="store_true", help="also run 1000 MB")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--dir", type=Path, help="where to generate (default: a temp dir)")
    parser.add_argument("--ids", action="store_true", help="ids like Q1234567 in user turns")
    parser.add_argument("--pii", action="store_true", help="time the PII scan alone")
    parser.add_argument("--line-mib", type=int, help="validate one line of N MiB")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.pii:
        run_pii()
        return
    if args.line_mib:
        run_big_line(args.line_mib)
        return
    global IDS
    IDS = args.ids

    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.with_1gb and 1000 not in sizes:
        sizes.append(1000)
    variants = [v for v in args.variants.split(",") if v]
    print(f"# {machine()}; load average {os.getloadavg()[0]:.2f} at start")
    header = "| size | variant | MB/s | peak RSS MB | seconds | tokens | analyze vs it |"
    print(header)
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for size in sizes:
            path = Path(tmp) / f"chat-{size}mb.jsonl"
            generate(path, size * MB)
            results = {v: measure(v, path) for v in variants}
            ours = results.get("analyze")
            for r in results.values():
                ratio = f"{ours.mb_per_s / r.mb_per_s:.2f}x" if ours and r is not ours else ""
                print(
                    f"| {size} MB | {r.variant} | {r.mb_per_s} | {r.peak_rss_mb} | "
                    f"{r.seconds} | {r.tokens} | {ratio} |",
                    flush=True,
                )
            path.unlink()
    print(f"# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
