"""Whether a config's starting weights can be had on this server, asked before a run is stored.

torchvision's convention: official ImageNet weights are read from torch hub's folder (or
`STAGEWISE_WEIGHTS_DIR`), and downloaded (hash-checked, by the worker) when missing, unless the
admin turned downloads off. A submit whose ImageNet weights are neither here nor downloadable
is refused with the file and the folder to put it in, instead of failing on the worker.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from app.schemas.train_config import TrainConfig
from app.schemas.weights import IMAGENET_WEIGHTS, WeightsFile
from app.services.errors import InvalidInput
from app.settings import Settings

WeightsState = Literal["here", "downloadable", "missing"]
PROBE_TIMEOUT_S = 3.0
PROBE_TTL_S = {True: 600.0, False: 60.0}  # a failed probe is retried sooner: the network may come back
_probes: dict[str, tuple[bool, float]] = {}  # url → (reachable, when probed)


@dataclass(frozen=True)
class DownloadProbe:
    """The weight URLs that answered a probe made *before* a write block, so that the block
    itself never waits on the network (on SQLite it holds the one writer lock)."""

    reachable: frozenset[str] = frozenset()


def probe_downloads(settings: Settings, data: Mapping[str, Any]) -> DownloadProbe:
    """Probe the download URL that a config (as raw data, before validation) would need: only
    ImageNet weights that are not here, where downloads are allowed. Waits up to
    `PROBE_TIMEOUT_S` when the answer is not cached; call it outside any transaction."""
    backbone = data.get("backbone", TrainConfig.model_fields["backbone"].default)
    if data.get("weights", "imagenet") != "imagenet" or not isinstance(backbone, str) or backbone not in IMAGENET_WEIGHTS:
        return DownloadProbe()
    allow = data.get("allow_download")
    downloads = downloads_allowed(settings, allow if isinstance(allow, bool) else None)
    if not downloads or _on_disk(settings, backbone, downloads):
        return DownloadProbe()
    url = IMAGENET_WEIGHTS[backbone].url
    return DownloadProbe(frozenset({url})) if reachable(url) else DownloadProbe()


def imagenet_state(
    settings: Settings, backbone: str, *, allow_download: bool | None = None, probe: DownloadProbe | None = None
) -> WeightsState:
    """`here` (the file is in the weights folder, or downloaded before into torch hub's folder and
    downloads are on: the worker takes it from there), `downloadable` (downloads on and the URL
    answers) or `missing`. `allow_download` is a config's own setting: `False` narrows the server's.

    With `probe` (inside a write block) the answer comes from that earlier probe and nothing
    touches the network; without it the URL is probed here (up to `PROBE_TIMEOUT_S`, cached).
    """
    downloads = downloads_allowed(settings, allow_download)
    if _on_disk(settings, backbone, downloads):
        return "here"
    url = IMAGENET_WEIGHTS[backbone].url
    if downloads and (url in probe.reachable if probe is not None else reachable(url)):
        return "downloadable"
    return "missing"


def _on_disk(settings: Settings, backbone: str, downloads: bool) -> bool:
    """The file is in the weights folder, or (downloads on) in torch hub's folder, where the worker finds it."""
    file = IMAGENET_WEIGHTS[backbone].file
    return (settings.weights_folder / file).is_file() or (downloads and (settings.torch_hub_folder / file).is_file())


def downloads_allowed(settings: Settings, allow_download: bool | None) -> bool:
    """The admin's setting, narrowed (never widened) by a config's own `allow_download`."""
    return settings.allow_download and allow_download is not False


def imagenet_states(settings: Settings) -> dict[str, WeightsState]:
    """`imagenet_state` of every backbone (one probe of download.pytorch.org serves them all, cached)."""
    return {backbone: imagenet_state(settings, backbone) for backbone in IMAGENET_WEIGHTS}


def check_weights(settings: Settings, config: TrainConfig, loc: tuple[str | int, ...], probe: DownloadProbe) -> None:
    """Refuse a config whose ImageNet weights the worker could neither read nor download.

    `probe` is `probe_downloads` of the same config, made before the caller's transaction.

    The admin's `allow_download` wins: a config's `allow_download: false` turns downloads off
    for its run, and its `true` cannot turn them on where the admin turned them off (the
    trainer counts them the same way).

    Raises:
        InvalidInput: at `loc`, naming the file, where to get it and the folder to put it in.
    """
    if config.weights != "imagenet":
        return
    if imagenet_state(settings, config.backbone, allow_download=config.allow_download, probe=probe) == "missing":
        raise InvalidInput.at(loc, missing_message(settings, config.backbone, allow_download=config.allow_download))


def missing_message(settings: Settings, backbone: str, *, allow_download: bool | None = None) -> str:
    """What to do when `backbone`'s ImageNet weights are neither here nor downloadable."""
    weights: WeightsFile = IMAGENET_WEIGHTS[backbone]
    if not settings.allow_download:
        why = "downloads are off on this server (STAGEWISE_ALLOW_DOWNLOAD=false)"
    elif allow_download is False:
        why = "the config turns downloads off (allow_download: false)"
    else:
        why = f"{weights.url} cannot be reached from this server"
    return (
        f"ImageNet weights of {backbone} are not on this server and {why}: put {weights.file} "
        f"(from {weights.url}) in {settings.weights_folder}, or choose weights: none (train from scratch)"
    )


def reachable(url: str, *, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether `url` answers a HEAD request with a success, remembered for a few minutes."""
    now = time.monotonic()
    known = _probes.get(url)
    if known is not None and now - known[1] < PROBE_TTL_S[known[0]]:
        return known[0]
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout_s) as answer:
            ok = 200 <= answer.status < 400
    except (OSError, ValueError):  # URLError, HTTPError and timeouts are OSErrors
        ok = False
    _probes[url] = (ok, now)
    return ok
