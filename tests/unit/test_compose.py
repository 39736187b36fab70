"""docker-compose.yml and the Dockerfile agree with the code (Docker itself cannot run here)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
INTERPOLATION = re.compile(r"\$\{(\w+)(?::([-?])(.*?))?\}")
DOTENV = {"POSTGRES_PASSWORD": "from-dot-env"}  # what docs/operations.md step 1 writes


class MissingVariable(Exception):
    """Compose's refusal to start: a `${VAR:?message}` whose VAR is unset or empty."""


def interpolate(value: str, env: dict[str, str] = DOTENV) -> str:
    """What compose substitutes given `env` (.env): `${VAR:-default}`, `${VAR:?message}`, `${VAR}`."""

    def substitute(match: re.Match[str]) -> str:
        name, kind, rest = match.groups()
        if env.get(name):
            return env[name]
        if kind == "?":
            raise MissingVariable(f"required variable {name} is missing a value: {rest}")
        return rest or ""

    return INTERPOLATION.sub(substitute, value)


def environment(service: str) -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in COMPOSE["services"][service]["environment"].items()}


def test_services_are_the_documented_ones() -> None:
    assert set(COMPOSE["services"]) == {"redis", "postgres", "api", "worker", "flower"}


@pytest.mark.parametrize("service", ["api", "worker"])
def test_every_stagewise_variable_is_a_settings_field(service: str) -> None:
    names = {name.removeprefix("STAGEWISE_").lower() for name in environment(service)}
    assert names <= set(Settings.model_fields)


@pytest.mark.parametrize("service", ["api", "worker"])
def test_environment_builds_settings_for_postgres_and_redis(service: str) -> None:
    env = environment(service)
    fields = {name.removeprefix("STAGEWISE_").lower(): value for name, value in env.items()}
    fields["queues"] = json.loads(fields["queues"])
    settings = Settings.model_validate(fields)
    assert settings.database_url.startswith("postgresql+psycopg://stagewise:")
    assert "@postgres:5432/" in settings.database_url
    assert settings.broker_url == "redis://redis:6379/0"


def test_only_the_api_gets_the_first_admins_password() -> None:
    assert ("STAGEWISE_ADMIN_PASSWORD" in environment("api"), "STAGEWISE_ADMIN_PASSWORD" in environment("worker")) == (
        True, False,
    )  # fmt: skip


def test_api_and_worker_share_the_data_volume() -> None:
    for service in ("api", "worker"):
        assert "data:/data" in COMPOSE["services"][service]["volumes"]


def test_redis_persists_append_only() -> None:
    assert "--appendonly" in COMPOSE["services"]["redis"]["command"]


def test_worker_reserves_a_gpu() -> None:
    devices = COMPOSE["services"]["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]


def test_api_publishes_port_8000() -> None:
    assert interpolate(COMPOSE["services"]["api"]["ports"][0]) == "8000:8000"


def dockerfile_cmd() -> list[str]:
    line = next(l for l in (ROOT / "Dockerfile").read_text().splitlines() if l.startswith("CMD "))
    return json.loads(line.removeprefix("CMD "))


@pytest.mark.parametrize(
    "command",
    [
        COMPOSE["services"]["api"]["command"],
        COMPOSE["services"]["worker"]["command"],
        COMPOSE["services"]["worker"]["healthcheck"]["test"][1:],
        dockerfile_cmd(),
    ],
    ids=["api", "worker", "worker-healthcheck", "dockerfile"],
)
def test_image_commands_exist_with_their_options(command: list[Any]) -> None:
    args = [interpolate(str(part)) for part in command]
    assert args[0] == "stagewise"
    result = CliRunner().invoke(cli, [*args[1:2], "--help"])
    assert result.exit_code == 0, result.output
    options = [a for a in args[2:] if a.startswith("--")]
    for option in options:
        assert option in result.output, f"{shlex.join(args)}: {option} not an option of {args[1]}"


def test_there_is_no_default_database_password() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    uses = re.findall(r"\$\{POSTGRES_PASSWORD(:.)?", text)
    assert uses and set(uses) == {":?"}  # every use requires it; none falls back to a default


@pytest.mark.parametrize("service", ["postgres", "api", "worker"])
def test_compose_refuses_to_start_without_a_database_password_saying_where_to_set_it(service: str) -> None:
    with pytest.raises(MissingVariable, match=r"POSTGRES_PASSWORD.*\.env"):
        for value in COMPOSE["services"][service]["environment"].values():
            interpolate(str(value), env={})


def test_the_database_password_from_dot_env_reaches_postgres_and_the_url() -> None:
    assert environment("postgres")["POSTGRES_PASSWORD"] == "from-dot-env"
    assert "stagewise:from-dot-env@postgres" in environment("api")["STAGEWISE_DATABASE_URL"]


def test_flower_is_published_on_loopback_only() -> None:
    ports = [interpolate(str(port)) for port in COMPOSE["services"]["flower"]["ports"]]
    assert ports and all(port.startswith("127.0.0.1:") for port in ports)


def start_flower(tmp_path: Path, dotenv: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Flower's container command as compose hands it to the image's `sh`, with `celery`
    standing in as a script that prints what it was started with."""
    celery = tmp_path / "celery"
    celery.write_text('#!/bin/sh\necho "celery $* auth=$FLOWER_BASIC_AUTH"\n')
    celery.chmod(0o755)
    service = COMPOSE["services"]["flower"]
    env = {k: interpolate(str(v), env=dotenv) for k, v in service["environment"].items()}
    command = [interpolate(str(part), env=dotenv).replace("$$", "$") for part in service["command"]]
    return subprocess.run(
        command, env={**env, "PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True, text=True, timeout=10, check=False
    )


@pytest.mark.parametrize("dotenv", [{}, {"FLOWER_BASIC_AUTH": ""}, {"FLOWER_BASIC_AUTH": "admin"}])
def test_flower_refuses_to_start_without_basic_auth_saying_where_to_set_it(tmp_path: Path, dotenv: dict) -> None:
    result = start_flower(tmp_path, dotenv)
    assert (result.returncode, result.stdout) == (1, "")
    assert "FLOWER_BASIC_AUTH=user:password in .env" in result.stderr


def test_flower_starts_with_the_basic_auth_from_dot_env(tmp_path: Path) -> None:
    result = start_flower(tmp_path, {"FLOWER_BASIC_AUTH": "admin:s3cret"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["celery", "--broker=redis://redis:6379/0", "flower", "--port=5555", "auth=admin:s3cret"]


def test_flower_is_not_restarted_after_refusing() -> None:
    assert COMPOSE["services"]["flower"]["restart"] == "no"


def test_the_worker_has_a_health_check_that_reads_its_heartbeat() -> None:
    check = COMPOSE["services"]["worker"]["healthcheck"]
    assert check["test"] == ["CMD", "stagewise", "worker-alive"]
    assert check["interval"] and check["start_period"]
