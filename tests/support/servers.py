"""Run ASGI apps on real loopback ports for tests (the SDKs under test speak real HTTP)."""

from scripts.stack import free_port, serve_app

__all__ = ["free_port", "serve_app"]
