"""Method name → implementation."""

from __future__ import annotations

from app.methods.base import Method
from app.methods.label import label

METHODS: dict[str, Method] = {"label": label}
