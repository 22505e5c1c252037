"""Where a base model is: a local directory, or a hub name already in the Hugging Face
cache. The training worker runs offline, so a model that is neither fails at submission."""

from __future__ import annotations

from pathlib import Path

from app.errors import InvalidSpec


def locate(base_model: str, hub_cache: Path) -> str:
    """What the worker will load: an absolute directory, or the hub name as given. Raises
    InvalidSpec on `base_model` unless the training worker can load it offline."""
    path = Path(base_model).expanduser()
    if (path / "config.json").is_file():
        # Absolute, so the worker does not read it relative to its own working directory.
        return str(path.resolve())
    if path.is_absolute() or base_model.startswith((".", "~")) or path.is_dir():
        raise InvalidSpec("base_model", f"no model at '{base_model}' (a directory with a config.json)")
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
    if name.count("/") > 1 or ".." in name or "\\" in name:
        return False
    snapshots = hub_cache.expanduser() / f"models--{name.replace('/', '--')}" / "snapshots"
    return snapshots.is_dir() and any((revision / "config.json").is_file() for revision in snapshots.iterdir())
