"""The service's settings: what the API, the synthesis and training workers and the CLI's
server commands (serve, worker, db, keys) read."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DISTILLERY_", extra="ignore")

    data_dir: Path = Path(".distillery")
    # Empty means "embedded": a SQLite file / kombu's SQLAlchemy transport in data_dir.
    database_url: str = ""
    broker_url: str = ""
    artifacts_dir: str = ""
    # Encrypts teacher API keys at rest; when unset one is generated into data_dir.
    secret_key: SecretStr | None = None

    teacher_timeout_s: float = 60.0
    teacher_max_attempts: int = 6
    # How often a job in batch mode asks the provider whether its batch is done.
    batch_poll_s: float = 10.0
    # Where a training job's `base_model` given as a hub name must already be: the Hugging
    # Face cache, found as the libraries find it (HF_HUB_CACHE, else HF_HOME/hub, else
    # ~/.cache/huggingface/hub). Nothing is downloaded at run time.
    hf_hub_cache: Path | None = Field(
        default=None, validation_alias=AliasChoices("DISTILLERY_HF_HUB_CACHE", "HF_HUB_CACHE")
    )
    hf_home: Path | None = Field(default=None, validation_alias=AliasChoices("HF_HOME"))
    # Directories (comma-separated) a training job's `base_model` given as a path must lie
    # under, symlinks resolved; empty allows hub names in the cache only. A tenant must not
    # point the training host at any path it likes (/etc, another tenant's outputs).
    model_dirs: Annotated[list[Path], NoDecode] = []
    # Work items are leased; a lease that expires (worker killed) is re-run.
    lease_seconds: int = 300
    # A training job whose worker wrote no heartbeat (one per step) for this long is taken
    # as dead: the reaper queues it again, to resume from its last checkpoint, until it has
    # been started TRAINING_MAX_ATTEMPTS times, then fails it. Longer than the slowest step,
    # checkpoint save or model load on the training hosts, or a live run is restarted.
    training_heartbeat_timeout_s: float = 600.0
    training_max_attempts: int = 3
    # How long a training job waits for its judge comparison (a feedback job run by the
    # synthesis workers) before it reports the comparison as unfinished.
    training_judge_timeout_s: float = 1800.0
    chunk_size: int = 50
    # Uploaded files larger than this, sent or decompressed (gzip, Parquet), are refused (413).
    max_upload_mb: int = 512
    # Any other request body larger than this is refused (413), whether it declares its
    # length or streams it (chunked).
    max_request_mb: int = 32
    # Per tenant: synthesis jobs queued or running at once, and API requests per second
    # (a burst of TENANT_BURST requests may come at once). Over either, a 429 with
    # Retry-After. 0 turns a limit off.
    tenant_max_active_jobs: int = 20
    tenant_rps: float = 20.0
    tenant_burst: int = 100
    # Where teachers may be created and called (distillery/security/teacher_urls.py): comma-separated
    # host names (`*.example.com` matches its subdomains), IPs and CIDRs, each with an optional
    # port (`127.0.0.1:9100,10.0.0.0/8,api.example.com`). Empty: any public address, and no
    # loopback, private, link-local or otherwise internal one.
    teacher_url_allowlist: str = ""
    # /metrics: when set, a scrape must send `Authorization: Bearer <token>` and gets the
    # per-teacher series (teacher ids and names, which tell tenants apart); when unset,
    # anyone who reaches it gets the teacher series summed over all teachers.
    metrics_token: SecretStr | None = None
    # Behind a TLS-terminating proxy that sets X-Forwarded-Proto: trust that header to say
    # whether the dashboard was reached over https (its cookies are then `Secure`). Off,
    # only the connection's own scheme counts, so a client cannot claim https.
    trust_forwarded_proto: bool = False
    # How the API and the workers write their log lines: `text` for a terminal, `json` (one
    # object per line, with request_id and job_id where known) for a log pipeline.
    log_format: Literal["text", "json"] = "text"

    @field_validator("model_dirs", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @property
    def resolved_hf_hub_cache(self) -> Path:
        if self.hf_hub_cache is not None:
            return self.hf_hub_cache.expanduser()
        return (self.hf_home / "hub" if self.hf_home else Path("~/.cache/huggingface/hub")).expanduser()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'distillery.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    @property
    def pacing_redis_url(self) -> str | None:
        """The Redis broker, where the teachers' pacing schedules and the tenants' request
        rates live; None in the embedded mode, which keeps the schedules in a SQLite file
        in data_dir (shared by the machine's workers) and the request rates in each API
        process."""
        url = self.resolved_broker_url
        return url if url.startswith(("redis://", "rediss://")) else None

    @property
    def resolved_artifacts_dir(self) -> str:
        return self.artifacts_dir or str((self.data_dir / "artifacts").resolve())


@lru_cache
def get_settings() -> Settings:
    """The server's settings, read once per process; data_dir is created."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings
