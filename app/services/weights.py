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
from typing import Literal

from app.schemas.train_config import TrainConfig
from app.schemas.weights import IMAGENET_WEIGHTS, WeightsFile
from app.services.errors import InvalidInput
from app.settings import Settings

WeightsState = Literal["here", "downloadable", "missing"]
PROBE_TIMEOUT_S = 3.0
PROBE_TTL_S = {True: 600.0, False: 60.0}  # a failed probe is retried sooner: the network may come back
_probes: dict[str, tuple[bool, float]] = {}  # url → (reachable, when probed)


def imagenet_state(settings: Settings, backbone: str) -> WeightsState:
    """`here` (the file is in the weights folder, or downloaded before into torch hub's folder and
    downloads are on: the worker takes it from there), `downloadable` (downloads on and the URL
    answers) or `missing`."""
    weights = IMAGENET_WEIGHTS[backbone]
    if (settings.weights_folder / weights.file).is_file():
        return "here"
    if settings.allow_download and (settings.torch_hub_folder / weights.file).is_file():
        return "here"
    if settings.allow_download and reachable(weights.url):
        return "downloadable"
    return "missing"


def imagenet_states(settings: Settings) -> dict[str, WeightsState]:
    """`imagenet_state` of every backbone (one probe of download.pytorch.org serves them all, cached)."""
    return {backbone: imagenet_state(settings, backbone) for backbone in IMAGENET_WEIGHTS}


def check_weights(settings: Settings, config: TrainConfig, loc: tuple[str | int, ...]) -> None:
    """Refuse a config whose ImageNet weights the worker could neither read nor download.

    A config's own `allow_download: true` counts as the trainer counts it.

    Raises:
        InvalidInput: at `loc`, naming the file, where to get it and the folder to put it in.
    """
    if config.weights != "imagenet":
        return
    if config.allow_download and not settings.allow_download:
        settings = settings.model_copy(update={"allow_download": True})
    if imagenet_state(settings, config.backbone) == "missing":
        raise InvalidInput.at(loc, missing_message(settings, config.backbone))


def missing_message(settings: Settings, backbone: str) -> str:
    """What to do when `backbone`'s ImageNet weights are neither here nor downloadable."""
    weights: WeightsFile = IMAGENET_WEIGHTS[backbone]
    why = "downloads are off (STAGEWISE_ALLOW_DOWNLOAD=false)" if not settings.allow_download else (
        f"{weights.url} cannot be reached from this server"
    )
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
