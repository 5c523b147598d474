"""Charts as files: PNG and SVG rendered offline by vl-convert (charts are built in
`doku.analysis.charts`, which re-exports these two functions)."""

from __future__ import annotations

import re
from typing import Any

import altair as alt
import vl_convert

STATIC_WIDTH = 520  # a "container" width needs a browser; a file gets this one


def _vl_version() -> str | None:
    """The vl-convert Vega-Lite version matching altair's schema (e.g. "6.4")."""
    match = re.match(r"v?(\d+)\.(\d+)", alt.SCHEMA_VERSION)
    if match is None:
        return None
    wanted = f"{match.group(1)}.{match.group(2)}"
    return wanted if wanted in vl_convert.get_vegalite_versions() else None


def _static_spec(chart: Any) -> dict[str, Any]:
    spec: dict[str, Any] = chart.to_dict()
    # "container" width needs a browser container; a file gets a fixed width.
    _fix_container_width(spec)
    return spec


def _fix_container_width(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("width") == "container":
            node["width"] = STATIC_WIDTH
        for key, value in node.items():
            if key != "datasets":
                _fix_container_width(value)
    elif isinstance(node, list):
        for value in node:
            _fix_container_width(value)


def chart_to_png(chart: Any, scale: float = 2.0) -> bytes:
    """PNG bytes, rendered offline by vl-convert (no network fetches allowed)."""
    png: bytes = vl_convert.vegalite_to_png(
        _static_spec(chart), vl_version=_vl_version(), scale=scale, allowed_base_urls=[]
    )
    return png


def chart_to_svg(chart: Any) -> str:
    """SVG text, rendered offline by vl-convert (no network fetches allowed)."""
    svg: str = vl_convert.vegalite_to_svg(
        _static_spec(chart), vl_version=_vl_version(), allowed_base_urls=[]
    )
    return svg
