"""The one place that reads the environment: `STAGEWISE_*` variables and `.env`."""

from __future__ import annotations

import ipaddress
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

QUEUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Settings(BaseSettings):
    """Stagewise settings. Defaults are the embedded, single-machine setup.

    With no `database_url` / `broker_url`, both live as SQLite files under `data_dir`
    (the broker through kombu's SQLAlchemy transport), so `stagewise serve` needs no
    server. A lab server sets them to PostgreSQL and Redis URLs.
    """

    model_config = SettingsConfigDict(env_prefix="STAGEWISE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./stagewise-data"), description="datasets, checkpoints, SQLite files")
    weights_dir: Path | None = Field(
        default=None, description="where pretrained .pth files are looked up (default: torch hub's checkpoints/)"
    )
    allow_download: bool = Field(
        default=True, description="let torchvision download its official weights (hash-checked) when it can reach them"
    )
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    num_workers: int = Field(default=0, ge=0, description="processes decoding images")
    resident_budget_gb: float | None = Field(
        default=None, gt=0, description="GPU memory a decoded dataset may hold, else streamed (default: 40% of the GPU)"
    )

    database_url: str = Field(default="", description="SQLAlchemy URL; empty = sqlite:///<data_dir>/stagewise.db")
    broker_url: str = Field(default="", description="Celery broker; empty = sqla+sqlite:///<data_dir>/broker.db")
    host: str = Field(default="127.0.0.1", description="address `stagewise serve` listens on")
    port: int = Field(default=8000, ge=1, le=65535, description="port `stagewise serve` listens on")

    queues: list[str] = Field(default=["default"], min_length=1, description="queues a run may target")
    default_queue: str = Field(default="default", description="queue of a run that names none")
    heartbeat_interval_s: float = Field(default=10.0, gt=0, description="how often workers report that they live")
    heartbeat_timeout_s: float = Field(
        default=120.0, gt=0, description="a running run silent this long is re-queued (or failed)"
    )
    max_attempts: int = Field(default=3, ge=1, description="deliveries of one run before a lost worker fails it")
    broker_visibility_timeout_s: int = Field(
        default=3600, ge=60, description="Redis only: an unacknowledged task is redelivered after this"
    )
    publish_timeout_s: float = Field(default=3.0, gt=0, description="how long a submit waits for the broker")
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="larger request bodies get 413")
    max_page_size: int = Field(default=200, ge=1, description="most runs one list request returns")
    max_compare: int = Field(default=20, ge=2, description="most runs one compare request reads")
    max_upload_bytes: int = Field(default=1_000_000_000, ge=1024, description="largest dataset archive accepted")
    max_upload_uncompressed_bytes: int = Field(default=5_000_000_000, ge=1024, description="most bytes one upload extracts to")
    max_upload_files: int = Field(default=200_000, ge=1, description="most entries in one uploaded archive")
    max_upload_ratio: float = Field(default=100.0, gt=1, description="most extracted bytes per archive byte (zip bombs)")
    max_upload_image_pixels: int = Field(default=50_000_000, ge=1, description="larger uploaded images are skipped")
    max_predict_files: int = Field(default=16, ge=1, description="most images one predict request classifies")
    max_predict_file_bytes: int = Field(default=10_000_000, ge=1024, description="largest image a predict request takes")
    decode_cache_gb: float | None = Field(
        default=50.0, gt=0, description="most disk the decoded-image cache (data_dir/.cache/decoded) may use"
    )
    migrate_on_start: bool = Field(default=True, description="apply database migrations when the API starts")
    keep_checkpoints: Literal["best_and_last", "last"] = Field(
        default="best_and_last", description="last: runs keep only checkpoint.pt (no best.pt; about half the disk)"
    )
    min_free_disk_gb: float = Field(
        default=2.0, ge=0, description="below this free space on the data or database volume /healthz is degraded "
        "and submits are refused with 507 (a ResNet-50 run needs ~0.5 GB: docs/operations.md)",
    )  # fmt: skip

    auth: Literal["auto", "accounts", "none"] = Field(
        default="auto", description="accounts (login / API tokens) or none (one local user); auto: none on 127.0.0.1"
    )
    admin_user: str = Field(default="", description="created as an admin at start when no account exists yet")
    admin_password: SecretStr | None = Field(default=None, description="the password of admin_user")
    allowed_hosts: list[str] = Field(
        default=[], description="Host headers the API answers with accounts on (empty: any; no-login: loopback only)"
    )
    forwarded_allow_ips: str = Field(
        default="",
        description="reverse proxies whose X-Forwarded-For/-Proto are trusted (comma-separated addresses or networks; "
        "empty: none, so a local process cannot pose as another client)",
    )
    body_idle_timeout_s: float = Field(
        default=60.0, gt=0, description="a request body that sends nothing for this long is cut (408)"
    )
    body_timeout_s: float = Field(
        default=3600.0, gt=0, description="a request body (an upload) still arriving after this long is cut (408)"
    )
    cookie_secure: bool | None = Field(default=None, description="Secure cookies (default: when the request is https)")
    session_hours: float = Field(default=72.0, gt=0, description="how long a dashboard login lasts")
    login_max_failures: int = Field(default=5, ge=1, description="failed logins per name or address in the window")
    login_window_s: float = Field(default=900.0, gt=0, description="the login rate limit's window")
    max_active_runs_per_user: int = Field(default=16, ge=1, description="queued + running runs one user may have")
    max_epochs: int = Field(default=1000, ge=1, description="most epochs a run may ask for")
    max_batch_size: int = Field(default=4096, ge=1, description="largest batch a run may ask for")
    max_image_size: int = Field(default=1024, ge=8, description="largest image side (px) a run may ask for")

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not QUEUE_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"queue name {bad[0]!r} must match {QUEUE_NAME.pattern}")
        return value

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        # Filled here rather than as Field defaults because they follow data_dir.
        # Absolute, so child processes started elsewhere share the same files.
        root = self.data_dir = self.data_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{root / 'stagewise.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{root / 'broker.db'}"
        if self.default_queue not in self.queues:
            raise ValueError(f"default_queue {self.default_queue!r} is not one of queues {self.queues}")
        return self

    @property
    def accounts_required(self) -> bool:
        """Whether requests must log in: `auth`, with auto = only when bound beyond loopback."""
        return self.auth == "accounts" or (self.auth == "auto" and not is_loopback(self.host))

    @property
    def resident_budget_bytes(self) -> int | None:
        """`resident_budget_gb` in bytes, as the training core's `Runtime` takes it."""
        return None if self.resident_budget_gb is None else int(self.resident_budget_gb * 1e9)

    @property
    def decode_cache_budget_bytes(self) -> int | None:
        """`decode_cache_gb` in bytes (None: no limit), as `Runtime` takes it."""
        return None if self.decode_cache_gb is None else int(self.decode_cache_gb * 1e9)

    @property
    def weights_folder(self) -> Path:
        """Where ImageNet weight files are looked up: `weights_dir`, else torch hub's `checkpoints/`.

        Torch hub's folder is worked out as `torch.hub.get_dir()` does (TORCH_HOME, else
        XDG_CACHE_HOME/torch, else ~/.cache/torch), so the API can tell without importing torch.
        """
        return self.weights_dir.expanduser() if self.weights_dir is not None else self.torch_hub_folder

    @property
    def torch_hub_folder(self) -> Path:
        """torch hub's `checkpoints/`, where downloaded weights are kept (whatever `weights_dir` says)."""
        cache = os.environ.get("XDG_CACHE_HOME", "~/.cache")
        home = os.environ.get("TORCH_HOME", os.path.join(cache, "torch"))
        return Path(home).expanduser() / "hub" / "checkpoints"

    @property
    def runs_dir(self) -> Path:
        """Where each run's files live, as `runs_dir / str(run_id)`."""
        return self.data_dir / "runs"

    def env(self) -> dict[str, str]:
        """These settings as `STAGEWISE_*` variables, for child processes (worker, uvicorn)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            if value is None:
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            out[f"STAGEWISE_{name.upper()}"] = text
        if self.admin_password is not None:  # dumped as asterisks above
            out["STAGEWISE_ADMIN_PASSWORD"] = self.admin_password.get_secret_value()
        return out


def is_loopback(host: str) -> bool:
    """127.0.0.1, ::1, localhost: an address only this machine can reach."""
    name = host.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def child_environment(settings: Settings, *, gpu: int | None = None) -> dict[str, str]:
    """The environment for a child process that should see `settings` (and one GPU)."""
    env = {**os.environ, **settings.env()}
    if gpu is not None:
        # One worker process per GPU: the process sees only its own card as cuda:0.
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    return env


def visible_gpus() -> str | None:
    """`CUDA_VISIBLE_DEVICES` of this process, recorded with each run it trains."""
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def pin_gpu(index: int) -> None:
    """Make this process see only GPU `index`; call before anything initialises CUDA."""
    os.environ["CUDA_VISIBLE_DEVICES"] = str(index)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
