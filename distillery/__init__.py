"""Distillery: black-box knowledge distillation of LLMs as a service.

`import distillery` gives the Python client (`distillery.Client`, `distillery.AsyncClient`
and their errors); the service's packages below it are loaded only when used, so a notebook
that imports the client pulls in no server code.

Edges (api/, cli/, ui/, workers/; client/ talks to the API over HTTP) call the domain
(pipelines/, jobs/, methods/, training/, teachers/, curation/, datasets/, ledger/), which uses
db/, schemas/ and settings; never the other way round (the import-linter layers in
pyproject.toml).
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from distillery.client import *  # noqa: F403

try:
    __version__ = version("distillery")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"


def __getattr__(name: str) -> Any:
    client = importlib.import_module("distillery.client")
    if name in client.__all__:
        return getattr(client, name)
    raise AttributeError(f"module 'distillery' has no attribute {name!r}")
