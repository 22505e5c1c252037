"""The FastAPI app factory."""

from __future__ import annotations

from fastapi import FastAPI

from app.api import errors
from app.api.routes import datasets, health, jobs, teachers


def create_app() -> FastAPI:
    app = FastAPI(
        title="Distillery",
        version="0.1.0",
        description="Black-box knowledge distillation of LLMs: teacher-driven data synthesis, curation and datasets.",
    )
    errors.install(app)
    for module in (health, teachers, jobs, datasets):
        app.include_router(module.router)
    return app
