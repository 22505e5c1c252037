"""A training job's artifacts: where they live (an fsspec URL under ARTIFACTS_DIR, so a
local directory or a bucket), what is there, and a tar of them streamed file by file."""

from __future__ import annotations

import json
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import fsspec
from sqlalchemy.orm import Session

from distillery.db.models import TrainingJob
from distillery.db.scoping import get_owned
from distillery.errors import Conflict
from distillery.schemas.training import ArtifactOut
from distillery.settings import get_settings

CHUNK = 1 << 20
BLOCK = 512


def location(job_id: str) -> str:
    return f"{get_settings().resolved_artifacts_dir.rstrip('/')}/training/{job_id}"


def files(uri: str) -> list[ArtifactOut]:
    fs, root = fsspec.core.url_to_fs(uri)
    if not fs.exists(root):
        return []
    found = fs.find(root, detail=True)
    return sorted(
        (ArtifactOut(path=path[len(root) :].lstrip("/"), size=int(info["size"])) for path, info in found.items()),
        key=lambda a: a.path,
    )


def rewrite_card(uri: str, status: str, metrics: dict[str, Any]) -> None:
    """The published run card with its final status and metrics: a judge step that ended
    after the training worker published the run adds its verdict."""
    fs, root = fsspec.core.url_to_fs(uri)
    path = f"{root}/run_card.json"
    with fs.open(path, "r") as f:
        card = json.load(f)
    card.update(status=status, metrics=metrics)
    with fs.open(path, "w") as f:
        f.write(json.dumps(card, indent=2, default=str))


def listing(session: Session, tenant_id: str, job_id: str) -> list[ArtifactOut]:
    job = get_owned(session, TrainingJob, tenant_id, job_id, "training job")
    return files(job.artifacts_uri) if job.artifacts_uri else []


def published(session: Session, tenant_id: str, job_id: str) -> str:
    """The job's artifacts location, once it has saved any."""
    job = get_owned(session, TrainingJob, tenant_id, job_id, "training job")
    if job.artifacts_uri is None:
        raise Conflict(f"training job '{job_id}' has no artifacts (it is {job.status})")
    return job.artifacts_uri


def tar_stream(uri: str, prefix: str) -> Iterator[bytes]:
    """A ustar archive of everything under `uri`, each file under `prefix/`. Written by
    hand, header then content in chunks, so a model of many gigabytes never sits in memory
    (tarfile.addfile would buffer a whole member in a non-seekable sink)."""
    fs, root = fsspec.core.url_to_fs(uri)
    mtime = int(time.time())
    for artifact in files(uri):
        info = tarfile.TarInfo(f"{prefix}/{artifact.path}")
        info.size, info.mtime, info.mode = artifact.size, mtime, 0o644
        yield info.tobuf(format=tarfile.PAX_FORMAT)
        with fs.open(f"{root}/{artifact.path}", "rb") as source:
            while chunk := source.read(CHUNK):
                yield chunk
        if artifact.size % BLOCK:
            yield b"\0" * (BLOCK - artifact.size % BLOCK)
    yield b"\0" * (2 * BLOCK)  # the end-of-archive marker
