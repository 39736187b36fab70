"""`stagewise sweep SPEC.yaml [--wait]`: submit a sweep to a Stagewise server and print its leaderboard.

A sweep's trials are runs on the server's workers, so the command is a client of the REST
API (`POST /api/sweeps`, `GET /api/sweeps/{id}`), like curl: `--url` names the server and
`--token` an API token (`stagewise tokens create USER`) for a server with accounts.

Without `--url` it uses the local server (http://127.0.0.1:8000) if one answers, and
otherwise runs the sweep here (`--local` forces it): it starts what `stagewise serve`
runs (the API, one local worker, SQLite and the embedded broker in STAGEWISE_DATA_DIR) on
a free loopback port, submits, follows the sweep to its end and stops it again. Trials
it leaves queued (Ctrl-C) are trained by the next `stagewise serve` on that data dir.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
import yaml

from app.cli.service import WORKER_STOP_GRACE_S, _stagewise_command
from app.cli.training import _fail
from app.settings import Settings, child_environment, get_settings

LIVE = ("queued", "running")
DEFAULT_URL = "http://127.0.0.1:8000"
LOCAL_START_S = 180.0  # migrations, then the API; the worker starts beside it


def sweep(
    spec: Annotated[Path, typer.Argument(help="the sweep spec, YAML or JSON (docs/sweeps.md)", exists=True)],
    url: Annotated[
        str | None, typer.Option(help=f"the Stagewise server (default {DEFAULT_URL}, or run here if none answers)")
    ] = None,
    token: Annotated[str | None, typer.Option(help="an API token, for a server with accounts")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="follow the sweep until it ends")] = False,
    local: Annotated[bool, typer.Option("--local", help="run here, with a server of its own, and wait")] = False,
    top: Annotated[int, typer.Option(help="rows of the leaderboard")] = 10,
    poll_s: Annotated[float, typer.Option(help="seconds between looks while waiting")] = 5.0,
) -> None:
    """Submit a sweep; print its trials best first (with --wait, once it has ended)."""
    body = yaml.safe_load(spec.read_text())
    if local or (url is None and not _answers(DEFAULT_URL)):
        typer.echo("no server given or answering: running the sweep here (what `stagewise serve` runs)")
        with local_server(get_settings()) as local_url:
            submit_and_follow(body, local_url, token=token, wait=True, top=top, poll_s=poll_s)
        return
    submit_and_follow(body, url or DEFAULT_URL, token=token, wait=wait, top=top, poll_s=poll_s)


def submit_and_follow(body: Any, url: str, *, token: str | None, wait: bool, top: int, poll_s: float) -> None:
    """POST the spec, print where to watch it, follow it while `wait`, then print the leaderboard."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
        created = _answer(client.post("/api/sweeps", json=body))
        typer.echo(f"sweep {created['id']}: {created['planned_trials']} trials, {created['parallel']} at a time "
                   f"({created['sampler']}, pruner {created['pruner']}) — {url}/sweeps/{created['id']}")  # fmt: skip
        current = created
        while wait and current["state"] == "running":
            time.sleep(poll_s)
            current = _answer(client.get(f"/api/sweeps/{created['id']}"))
            typer.echo(progress_line(current))
    typer.echo(leaderboard(current, top=top))


@contextmanager
def local_server(settings: Settings) -> Iterator[str]:
    """`stagewise serve` (API + one local worker) on a free loopback port, for the length of the block.

    Its output goes to `<data_dir>/sweep-local.log`; it is stopped with SIGTERM, as `serve`
    expects, which stops its worker too.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    here = settings.model_copy(update={"host": "127.0.0.1", "port": port})
    here.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = here.data_dir / "sweep-local.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [*_stagewise_command(), "serve"], env=child_environment(here), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + LOCAL_START_S
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise _fail(f"the local server did not start; see {log_path}", code=1)
            time.sleep(0.5)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=WORKER_STOP_GRACE_S + 15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        raise _fail(f"the server answered {response.status_code}: {json.dumps(detail)}", code=1)
    return response.json()


def progress_line(sweep: dict[str, Any]) -> str:
    """`[#####-----] 5/10 trials ended · 2 in flight · best 0.8125`."""
    planned, trials = max(sweep["planned_trials"], 1), sweep["trials"]
    ended = sum(1 for t in trials if t["state"] not in LIVE)
    filled = round(20 * ended / planned)
    best = "—" if sweep["best"] is None else f"{sweep['best']['value']:.4g}"
    line = (f"[{'#' * filled}{'-' * (20 - filled)}] {ended}/{planned} trials ended · "
            f"{len(trials) - ended} in flight · best {best}")  # fmt: skip
    states = [state for r in sweep.get("repeats", []) for state in r["states"]]
    if states:
        line += f" · repeats {sum(1 for s in states if s not in LIVE)}/{len(states)} ended"
    return line


def leaderboard(sweep: dict[str, Any], *, top: int) -> str:
    """The trials with a value, best first (val_acc highest, val_loss lowest), then the rest."""
    maximise = sweep["objective"] == "val_acc"
    scored = sorted((t for t in sweep["trials"] if t["value"] is not None),
                    key=lambda t: -t["value"] if maximise else t["value"])  # fmt: skip
    rows = [*scored, *(t for t in sweep["trials"] if t["value"] is None)][:top]
    lines = [f"sweep {sweep['id']} {sweep['state']} · objective {sweep['objective']}",
             f"{'trial':>5}  {'state':<9}  {'value':>8}  {'run':>5}  params"]  # fmt: skip
    for t in rows:
        value = "—" if t["value"] is None else f"{t['value']:.4f}"
        state = t["state"] + (f"@{t['pruned_epoch'] + 1}" if t.get("pruned_epoch") is not None else "")
        params = ", ".join(f"{k}={_short(v)}" for k, v in t["params"].items())
        lines.append(f"{t['number']:>5}  {state:<9}  {value:>8}  {t['run_id']:>5}  {params}")
    return "\n".join([*lines, *repeat_lines(sweep)])


def repeat_lines(sweep: dict[str, Any]) -> list[str]:
    """The best configurations trained again with other seeds (`repeat_best`): mean ± std per configuration."""
    if not sweep.get("repeats"):
        return []
    lines = ["", f"best configurations over more seeds · {sweep['objective']} and test accuracy, mean ± std",
             f"{'trial':>5}  {'objective':>17}  {'test acc':>17}  {'seeds':<8}  params"]  # fmt: skip
    for r in sweep["repeats"]:
        seeds = ",".join(str(seed) for seed in r["seeds"])
        ended = sum(1 for state in r["states"] if state not in LIVE)
        pending = "" if ended == len(r["states"]) else f"  ({ended}/{len(r['states'])} ended)"
        params = ", ".join(f"{k}={_short(v)}" for k, v in r["params"].items())
        lines.append(f"{r['trial_number']:>5}  {_spread(r['mean'], r['std']):>17}  "
                     f"{_spread(r.get('test_acc_mean'), r.get('test_acc_std')):>17}  {seeds:<8}  {params}{pending}")  # fmt: skip
    return lines


def _spread(mean: float | None, std: float | None) -> str:
    if mean is None:
        return "—"
    return f"{mean:.4f}" + ("" if std is None else f" ± {std:.4f}")


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def register(cli: typer.Typer) -> None:
    """Add `sweep` to the command line."""
    cli.command("sweep")(sweep)
