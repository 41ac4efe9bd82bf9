"""The evaluation report: one self-contained ``report.html`` (opens offline, from disk).

Pure functions over plain data (class names, palette, confusion matrix, per-class IoU, per-frame
mIoU, the worst frames as arrays): no dataset, model or file layout is known here, so the report
can be drawn from any evaluation and tested on synthetic numbers. Figures are drawn with
matplotlib and every picture is embedded as base64, so the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

ERROR_COLOUR, CORRECT_COLOUR, VOID_COLOUR = (230, 25, 25), (40, 40, 40), (255, 255, 255)


def frame_miou(confusion: np.ndarray) -> float:
    """mIoU of one frame from its [C, C] confusion matrix (rows truth, columns prediction): the mean
    IoU over the classes present in its truth or its prediction (a frame without a class says
    nothing about it); NaN when the frame has no labelled pixel."""
    confusion = np.asarray(confusion, dtype=np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    present = union > 0
    return float(np.mean(hits[present] / union[present])) if present.any() else math.nan


def per_frame_miou(confusions: Iterable[tuple[str, np.ndarray]]) -> list[tuple[str, float]]:
    """(name, mIoU) of each (name, per-frame confusion matrix), in the order given."""
    return [(name, frame_miou(confusion)) for name, confusion in confusions]


def worst_frame_names(frame_mious: Sequence[tuple[str, float]], count: int) -> list[str]:
    """The ``count`` frames with the lowest mIoU (frames without labelled pixels are left out)."""
    scored = [(miou, name) for name, miou in frame_mious if not math.isnan(miou)]
    return [name for _, name in sorted(scored)[:count]]


def colorize(ids: np.ndarray, palette: np.ndarray, void_colour=VOID_COLOUR) -> np.ndarray:
    """HxW ids -> HxWx3 RGB; ids outside the palette (void) get ``void_colour``."""
    table = np.zeros((256, 3), np.uint8)
    table[:] = void_colour
    table[: len(palette)] = np.asarray(palette, np.uint8)[:256]
    return table[ids]


def error_map(truth: np.ndarray, prediction: np.ndarray, num_classes: int) -> np.ndarray:
    """Wrong pixels red, right ones dark grey, unlabelled (void) ones white."""
    picture = np.empty((*truth.shape, 3), np.uint8)
    picture[:] = CORRECT_COLOUR
    picture[truth != prediction] = ERROR_COLOUR
    picture[truth >= num_classes] = VOID_COLOUR
    return picture


def _image_tag(rgb: np.ndarray, alt: str, lossy: bool = False) -> str:
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg" if lossy else ".png", bgr, [cv2.IMWRITE_JPEG_QUALITY, 88] if lossy else [])
    if not ok:
        raise ValueError(f"cannot encode the picture {alt!r}")
    mime = "image/jpeg" if lossy else "image/png"
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{base64.b64encode(data.tobytes()).decode()}">'


def _figure_tag(figure, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(figure)
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _iou_chart(class_names: Sequence[str], ious: Sequence[float], palette: np.ndarray) -> str:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 0.35 * len(class_names) + 1))
    axes = figure.add_subplot()
    values = [0.0 if math.isnan(v) else 100 * v for v in ious]
    axes.barh(range(len(values)), values, color=[tuple(c / 255 for c in palette[i]) for i in range(len(values))],
              edgecolor="black")
    axes.set_yticks(range(len(values)), class_names)
    axes.invert_yaxis()
    axes.set_xlim(0, 100)
    axes.set_xlabel("IoU (%)")
    for y, value in enumerate(values):
        axes.text(value + 1, y, f"{value:.1f}", va="center")
    return _figure_tag(figure, "Per-class IoU bar chart")


def _confusion_chart(confusion: np.ndarray, class_names: Sequence[str]) -> str:
    from matplotlib.figure import Figure

    rows = confusion.sum(1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, np.float64), where=rows > 0)
    size = 0.45 * len(class_names) + 2
    figure = Figure(figsize=(size + 1, size))
    axes = figure.add_subplot()
    image = axes.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(class_names))
    axes.set_xticks(ticks, class_names, rotation=60, ha="right")
    axes.set_yticks(ticks, class_names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    for (y, x), value in np.ndenumerate(share):
        if value >= 0.01:
            axes.text(x, y, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                      color="white" if value > 0.5 else "black")
    figure.colorbar(image, ax=axes, fraction=0.046, label="share of the true class's pixels")
    return _figure_tag(figure, "Confusion matrix, each row normalised to its true class")


def _miou_histogram(frame_mious: Sequence[tuple[str, float]]) -> str:
    from matplotlib.figure import Figure

    values = [100 * m for _, m in frame_mious if not math.isnan(m)]
    figure = Figure(figsize=(7, 3))
    axes = figure.add_subplot()
    axes.hist(values, bins=20, range=(0, 100), color="#4a7ab5", edgecolor="black")
    axes.set_xlabel("per-frame mIoU (%)")
    axes.set_ylabel("frames")
    if values:
        axes.axvline(float(np.median(values)), color="black", linestyle="--", label=f"median {np.median(values):.1f}")
        axes.legend()
    return _figure_tag(figure, "Distribution of per-frame mIoU")


def _legend(class_names: Sequence[str], palette: np.ndarray) -> str:
    items = [f'<li><span class="swatch" style="background: rgb{tuple(int(v) for v in palette[i])}"></span>'
             f"{html.escape(name)}</li>" for i, name in enumerate(class_names)]
    items.append(f'<li><span class="swatch" style="background: rgb{VOID_COLOUR}"></span>void (not scored)</li>')
    return '<ul class="legend">' + "".join(items) + "</ul>"


def _iou_table(class_names: Sequence[str], per_class_iou: Mapping[str, float]) -> str:
    rows = []
    for i, name in enumerate(class_names):
        value = per_class_iou.get(name, math.nan)
        rows.append(f"<tr><td>{i}</td><td>{html.escape(name)}</td>"
                    f"<td>{'n/a' if value is None or math.isnan(value) else f'{100 * value:.2f}'}</td></tr>")
    return ('<table id="iou-table"><thead><tr><th>id</th><th>class</th><th>IoU (%)</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _worst_rows(worst: Sequence[tuple], palette: np.ndarray, num_classes: int,
                frame_mious: Mapping[str, float]) -> str:
    rows = []
    for name, rgb, truth, prediction in worst:
        label = html.escape(str(name))
        miou = frame_mious.get(name, math.nan)
        cells = [_image_tag(rgb, f"{name}: original", lossy=True),
                 _image_tag(colorize(truth, palette), f"{name}: ground truth"),
                 _image_tag(colorize(prediction, palette), f"{name}: prediction"),
                 _image_tag(error_map(truth, prediction, num_classes), f"{name}: errors in red")]
        score = "n/a" if math.isnan(miou) else f"{100 * miou:.1f}"
        rows.append(f'<tr><th scope="row">{label}<br>mIoU {score}</th>' + "".join(f"<td>{c}</td>" for c in cells)
                    + "</tr>")
    return ('<table id="worst-frames"><thead><tr><th>frame</th><th>original</th><th>ground truth</th>'
            '<th>prediction</th><th>errors (red)</th></tr></thead><tbody>' + "".join(rows) + "</tbody></table>")


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:0 auto;padding:0 1rem 2rem;color:#1a1a1a}\n"
         "table{border-collapse:collapse;margin:1rem 0}"
         "td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}\n"
         "#worst-frames img{width:240px;height:auto;display:block}"
         ".legend{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;list-style:none;padding:0}\n"
         ".swatch{display:inline-block;width:1.4em;height:1em;border:1px solid #333;margin-right:.4em;"
         "vertical-align:middle}\n"
         "dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}dt{font-weight:bold}")


def render_report(class_names: Sequence[str], palette, confusion, per_class_iou: Mapping[str, float],
                  frame_mious: Sequence[tuple[str, float]], worst_frames: Sequence[tuple], metadata: Mapping) -> str:
    """The report as one HTML string.

    ``palette``: one RGB row per class (a further row, the void colour, is ignored); ``confusion``:
    [C, C] pixel counts, rows truth; ``per_class_iou``: name -> IoU in [0, 1] (NaN: never seen nor
    predicted); ``frame_mious``: (frame name, mIoU); ``worst_frames``: (name, HxWx3 RGB, HxW truth
    ids, HxW predicted ids), ids >= C are void; ``metadata``: shown as a list (model, split, mIoU, ...).
    """
    names = list(class_names)
    palette = np.asarray(palette, np.uint8)[: len(names)]
    confusion = np.asarray(confusion, np.int64)
    if confusion.shape != (len(names), len(names)) or len(palette) != len(names):
        raise ValueError(f"{len(names)} classes need a {len(names)}x{len(names)} confusion matrix and "
                         f"{len(names)} colours, got {confusion.shape} and {len(palette)}")
    title = html.escape(str(metadata.get("title", "Evaluation report")))
    facts = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(str(v))}</dd>"
                    for k, v in metadata.items() if k != "title")
    worst = (f"<h2>The {len(worst_frames)} worst frames</h2>{_legend(names, palette)}"
             f"{_worst_rows(worst_frames, palette, len(names), dict(frame_mious))}" if worst_frames
             else "<h2>Worst frames</h2><p>No frame pictures were kept with this evaluation.</p>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title><style>{STYLE}</style></head><body>
<h1>{title}</h1><dl>{facts}</dl>
<h2>Classes</h2>{_legend(names, palette)}
<h2>Per-class IoU</h2>{_iou_chart(names, [per_class_iou.get(n, math.nan) for n in names], palette)}
{_iou_table(names, per_class_iou)}
<h2>Confusion matrix</h2>{_confusion_chart(confusion, names)}
<h2>Per-frame mIoU ({len(frame_mious)} frames)</h2>{_miou_histogram(frame_mious)}
{worst}
</body></html>
"""


def write_report_html(path: str | os.PathLike, *args, **kwargs) -> Path:
    """``render_report(*args, **kwargs)`` written to ``path`` (e.g. beside metrics.json); returns it."""
    path = Path(path)
    text = render_report(*args, **kwargs)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)  # a reader never sees half a report
    return path
