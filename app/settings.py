"""The one place that reads the environment: `STAGEWISE_*` variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Stagewise settings. Defaults are the embedded, single-machine setup."""

    model_config = SettingsConfigDict(env_prefix="STAGEWISE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("./stagewise-data"), description="datasets, checkpoints, SQLite files")
    weights_dir: Path | None = Field(
        default=None, description="where pretrained .pth files are looked up (default: torch hub's checkpoints/)"
    )
    allow_download: bool = Field(default=False, description="let torchvision download weights and datasets")
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    num_workers: int = Field(default=0, ge=0, description="processes decoding images")


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
