"""The opened step (core/step.py) as one self-contained HTML page: every stage in order with its formula,
shape, min/max/norm and picture (images and heat maps inline as base64 PNG, bars as inline SVG), no
scripts and no outside files, so a student can hand it in or share it."""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path

import numpy as np

from .images import png_bytes
from .safe_io import OutputKind, atomic_write, open_regular
from .step import SECTIONS, OpenedStep, Stage, colours, is_signed, stage_grid

MARK = "<!-- VAE Explorer: one training step, opened -->"
SECTION_TITLES = {"forward": "Forward pass", "objective": "Objective", "backward": "Backward pass",
                  "update": "Update (the optimiser's next step)"}
MAX_PIXELS = 360  # a picture's longer side in the page (weight matrices are shrunk by the browser)
STYLE = """body{font-family:sans-serif;max-width:1100px;margin:1em auto;color:#222}
.stage{border-top:1px solid #ccc;padding:.5em 0;display:flex;gap:1.5em;align-items:flex-start}
.text{flex:1}.formula{font-family:serif;font-size:1.1em;margin:.3em 0}.nums{color:#555;font-size:.9em}
img{image-rendering:pixelated;border:1px solid #aaa}h2{margin-top:1.5em}td,th{padding:2px 8px;text-align:right}"""


def _is_page(path: Path) -> bool:
    with open_regular(path, "file", 1 << 62) as f:
        return MARK.encode() in f.read(4096)


HTML_PAGE = OutputKind("opened-step HTML page", _is_page)


def _png_tag(stage: Stage, image_shape: tuple[int, int]) -> str:
    grid = stage_grid(stage, image_shape)
    scale = max(1, min(12, MAX_PIXELS // max(grid.shape)))
    data = base64.b64encode(png_bytes(colours(grid, is_signed(stage)), scale)).decode("ascii")
    return f'<img alt="{html.escape(stage.key)}" src="data:image/png;base64,{data}">'


def _bars_svg(values: np.ndarray, width: int = 360, height: int = 90) -> str:
    v = np.ravel(values)
    top = float(np.abs(v).max()) or 1.0
    bar, mid = width / len(v), height / 2
    rects = []
    for i, value in enumerate(v):
        h = abs(value) / top * (mid - 2)
        y = mid - h if value >= 0 else mid
        colour = "#c33" if value >= 0 else "#36c"
        rects.append(f'<rect x="{i * bar:.2f}" y="{y:.2f}" width="{max(bar - 0.3, 0.5):.2f}" height="{h:.2f}" '
                     f'fill="{colour}"><title>[{i}] {value:.6g}</title></rect>')
    return (f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
            f'<line x1="0" y1="{mid}" x2="{width}" y2="{mid}" stroke="#999"/>{"".join(rects)}</svg>')


def _picture(stage: Stage, image_shape: tuple[int, int]) -> str:
    if stage.picture in ("image", "heatmap"):
        return _png_tag(stage, image_shape)
    if stage.picture == "bars":
        return _bars_svg(stage.values)
    rows = "".join(f"<tr><th>{html.escape(label)}</th><td>{value:.10g}</td></tr>"
                   for label, value in zip(stage.labels, stage.values, strict=True))
    return f"<table>{rows}</table>"


def _stage_html(stage: Stage, image_shape: tuple[int, int]) -> str:
    s = stage.summary()
    note = f'<div class="nums">{html.escape(stage.note)}</div>' if stage.note else ""
    return (f'<div class="stage"><div class="text"><b>{stage.title}</b>'
            f'<div class="formula">{stage.formula}</div>'
            f'<div class="nums">shape {stage.shape} · min {s["min"]:.6g} · max {s["max"]:.6g} · '
            f'norm {s["norm"]:.6g}</div>{note}</div><div>{_picture(stage, image_shape)}</div></div>')


def _norms_table(step: OpenedStep) -> str:
    grads, updates, ratios = step.grad_norms(), step.update_norms(), step.update_ratios()
    rows = "".join(f"<tr><th>{html.escape(n)}</th><td>{np.linalg.norm(step.params[n]):.6g}</td><td>{grads[n]:.6g}</td>"
                   f"<td>{updates[n]:.6g}</td><td>{ratios[n]:.3g}</td></tr>" for n in grads)
    return ("<table><tr><th>parameter</th><th>‖θ‖</th><th>‖∂L/∂θ‖</th><th>‖Δθ‖</th><th>‖Δθ‖/‖θ‖</th></tr>"
            f"{rows}</table>")


def step_page(step: OpenedStep, image_shape: tuple[int, int], source: str = "") -> str:
    """The whole page as a string. Formulas are the stages' own (Unicode with <sub>/<sup>)."""
    face = f"face {step.index}" if step.index is not None else "an image"
    head = (f"{html.escape(step.description)}, step {step.model_step}: {face}"
            f"{' of ' + html.escape(source) if source else ''}, float64")
    parts = [f"<!DOCTYPE html>\n{MARK}\n<html><head><meta charset='utf-8'><title>One training step, opened"
             f"</title><style>{STYLE}</style></head><body><h1>One training step, opened</h1><p>{head}</p>"]
    for section in SECTIONS:
        parts.append(f"<h2>{SECTION_TITLES[section]}</h2>")
        parts += [_stage_html(st, image_shape) for st in step.stages if st.section == section]
        if section == "update":
            parts.append(_norms_table(step))
    parts.append("</body></html>\n")
    return "\n".join(parts)


def write_step_page(path: str | os.PathLike, step: OpenedStep, image_shape: tuple[int, int], source: str = "",
                    force: bool = False) -> Path:
    """Write the page atomically; it may replace an earlier page of ours (any regular file with ``force``)."""
    text = step_page(step, image_shape, source).encode("utf-8")
    return atomic_write(path, HTML_PAGE, lambda f: f.write(text), force=force)
