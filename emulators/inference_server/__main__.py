"""``python -m emulators.inference_server --port 8020 --catalogue FILE [--adapter-root DIR]``"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from .app import create_app
from .settings import InferenceServerSettings


def main(argv: list[str] | None = None) -> None:
    defaults = InferenceServerSettings()
    parser = argparse.ArgumentParser(
        prog="python -m emulators.inference_server",
        description="Serve every model of a base-model catalogue, and LoRA adapters loaded "
        "at run time, through vLLM's OpenAI-compatible routes, with real CPU generation. "
        "Options default to INFERENCE_SERVER_* environment variables.",
    )
    parser.add_argument("--host", default=defaults.host)
    parser.add_argument("--port", type=int, default=defaults.port)
    parser.add_argument("--catalogue", type=Path, default=defaults.catalogue)
    parser.add_argument("--adapter-root", type=Path, default=defaults.adapter_root)
    parser.add_argument("--lora-resolver-dir", type=Path, default=defaults.lora_resolver_dir)
    parser.add_argument(
        "--api-key", default=defaults.api_key, help="prefer INFERENCE_SERVER_API_KEY"
    )
    parser.add_argument("--max-tokens-limit", type=int, default=defaults.max_tokens_limit)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    if args.catalogue is None:
        parser.error("--catalogue (or INFERENCE_SERVER_CATALOGUE) is required")
    settings = defaults.model_copy(
        update={
            "host": args.host,
            "port": args.port,
            "catalogue": args.catalogue,
            "adapter_root": args.adapter_root,
            "lora_resolver_dir": args.lora_resolver_dir,
            "api_key": args.api_key,
            "max_tokens_limit": args.max_tokens_limit,
        }
    )
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(message)s")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
