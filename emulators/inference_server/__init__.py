"""A small vLLM-compatible OpenAI server for development and tests: real generation with
transformers + PEFT on CPU, behind the routes and error shapes of vLLM's OpenAI server.

Run `python -m emulators.inference_server --port 8020 --catalogue FILE`.
"""
