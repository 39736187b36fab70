"""Front-end libraries served from installed Python packages, never from a CDN.

plotly.js ships inside the `plotly` wheel (`plotly/package_data/plotly.min.js`), so a lab
network without internet gets the same charts, and nothing vendored sits in the repo.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

PLOTLY_URL = "/vendor/plotly.min.js"


def plotly_js_path() -> Path:
    """Where the installed plotly package keeps its bundled plotly.js."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@router.get(PLOTLY_URL)
def plotly_js() -> FileResponse:
    """The bundled plotly.js; a day of browser caching because it only changes on upgrade."""
    return FileResponse(
        plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"}
    )
