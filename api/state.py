"""Long-lived clients of the API process, created in the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from fastapi import Request
from openai import AsyncOpenAI
from temporalio.client import Client

from api.base_models import BaseModelCheck
from core.settings import Settings


@dataclass
class AppState:
    settings: Settings
    pool: asyncpg.Pool
    temporal: Client
    openai: AsyncOpenAI
    base_models: BaseModelCheck


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.trainer
    return state
