"""Where a base model is: a directory under the configured model directories
(DISTILLERY_MODEL_DIRS), or a hub name already in the Hugging Face cache. The training
worker runs offline and loads whatever path it is given, so anything else (a path outside
those directories, a symlink leading out of them, a directory that is no model) fails at
submission."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from distillery.errors import InvalidSpec

# huggingface_hub's repo ids: `name` or `org/name`, letters, digits, - _ .
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def locate(base_model: str, hub_cache: Path, model_dirs: Sequence[Path] = ()) -> str:
    """What the worker will load: an absolute directory under `model_dirs`, or the hub name
    as given. Raises InvalidSpec on `base_model` unless the worker may and can load it."""
    if "\x00" in base_model:
        raise InvalidSpec("base_model", "must not contain NUL characters")
    roots = [d.expanduser().resolve() for d in model_dirs]
    path = Path(base_model).expanduser()
    # A relative path is read under each model directory, then under the working directory.
    candidates = [path] if path.is_absolute() else [*(root / path for root in roots), path]
    for candidate in candidates:
        if not candidate.exists():
            continue
        # Resolved first, so a symlink that leads out of the model directories is seen as out.
        real = candidate.resolve()
        if not any(real.is_relative_to(root) for root in roots):
            continue
        if not (real / "config.json").is_file():
            raise InvalidSpec("base_model", f"no model at '{base_model}' (a directory with a config.json)")
        return str(real)
    looks_like_path = path.is_absolute() or base_model.startswith((".", "~")) or path.exists()
    if looks_like_path or not _HUB_NAME.match(base_model) or ".." in base_model:
        where = ", ".join(str(r) for r in roots) or "none configured"
        raise InvalidSpec(
            "base_model",
            f"'{base_model}' is not a model directory under the model directories ({where}); put the model"
            " under one of them (the server's DISTILLERY_MODEL_DIRS) or give a hub name already in the"
            " Hugging Face cache",
        )
    if not in_hub_cache(base_model, hub_cache):
        raise InvalidSpec(
            "base_model",
            f"'{base_model}' is neither a local model directory nor in the Hugging Face cache;"
            " download it on the training host first (e.g. `hf download NAME`)",
        )
    return base_model


def in_hub_cache(name: str, hub_cache: Path) -> bool:
    """The cache keeps `org/name` as models--org--name/snapshots/<revision>/ (huggingface_hub's
    layout); a usable snapshot has the model's config.json."""
    if not _HUB_NAME.match(name) or ".." in name:
        return False
    snapshots = hub_cache.expanduser() / f"models--{name.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any((revision / "config.json").is_file() for revision in snapshots.iterdir())
