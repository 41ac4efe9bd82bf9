"""Does a model read the layout of footage it was not trained on? (tools/footage_check.py)

Held-out dashcam frames come without labels, but their layout is known: the lane ahead of the camera
is road and the top of the frame is sky. For each frame this finds the class with most pixels in the
lane region (a box ahead of the camera, below the horizon, above a dashcam's bonnet) and in the upper
band; a frame passes when they are Road and Sky. Footage without labels cannot be scored, so this
is a sanity check on its layout, read beside the overlays, not a score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segnet.data.images import read_image
from segnet.errors import SegnetError

# (top, bottom, left, right) as fractions of the frame's height and width
LANE = (0.60, 0.85, 0.35, 0.65)
UPPER = (0.0, 0.15, 0.0, 1.0)


@dataclass(frozen=True)
class FrameLayout:
    name: str
    lane_class: str
    lane_share: float  # of the region's pixels
    upper_class: str
    upper_share: float
    road: str = "Road"
    sky: str = "Sky"

    @property
    def lane_ok(self) -> bool:
        return self.lane_class == self.road

    @property
    def upper_ok(self) -> bool:
        return self.upper_class == self.sky

    @property
    def ok(self) -> bool:
        return self.lane_ok and self.upper_ok


def region(labels: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    """The pixels of ``labels`` inside ``box`` (fractions), at least one row and column."""
    h, w = labels.shape
    top, bottom, left, right = box
    r0, c0 = min(int(top * h), h - 1), min(int(left * w), w - 1)
    return labels[r0:max(int(round(bottom * h)), r0 + 1), c0:max(int(round(right * w)), c0 + 1)]


def largest_class(labels: np.ndarray, num_classes: int) -> tuple[int, float]:
    """The most frequent class id among ``labels`` (ids >= num_classes ignored) and its share."""
    counts = np.bincount(labels.ravel(), minlength=num_classes)[:num_classes]
    best = int(np.argmax(counts))
    return best, float(counts[best] / max(labels.size, 1))


def check_box(box, what: str) -> tuple[float, float, float, float]:
    top, bottom, left, right = (float(v) for v in box)
    if not (0 <= top < bottom <= 1 and 0 <= left < right <= 1):
        raise SegnetError(f"{what} {top:g} {bottom:g} {left:g} {right:g}: needs 0 <= top < bottom <= 1 "
                          f"and 0 <= left < right <= 1 (fractions of the frame)")
    return top, bottom, left, right


def footage_check(model, paths: list[Path], lane=LANE, upper=UPPER, road: str = "Road", sky: str = "Sky",
                  overlays: Path | None = None) -> list[FrameLayout]:
    """One FrameLayout per image in ``paths``, predicted by ``model`` (a segnet.Model); with
    ``overlays``, each frame's overlay (legend, lane box and upper band drawn) is written there."""
    names = list(model.classes.names)
    for wanted in (road, sky):
        if wanted not in names:
            raise SegnetError(f"the model has no class {wanted!r} (its classes: {', '.join(names)})")
    lane, upper = check_box(lane, "lane region"), check_box(upper, "upper band")
    rows = []
    for path in paths:
        image = read_image(path)
        labels = model.predict(image)
        (lane_id, lane_share), (upper_id, upper_share) = (largest_class(region(labels, box), len(names))
                                                          for box in (lane, upper))
        rows.append(FrameLayout(Path(path).name, names[lane_id], lane_share, names[upper_id], upper_share, road, sky))
        if overlays is not None:
            _write_overlay(model, image, labels, (lane, upper), overlays / f"{Path(path).stem}_layout.png")
    return rows


def _write_overlay(model, image: np.ndarray, labels: np.ndarray, boxes, path: Path) -> None:
    import cv2

    from segnet.core.atomic import atomic_write

    picture = np.ascontiguousarray(model.overlay(image, labels, legend=True))
    h, w = labels.shape
    for top, bottom, left, right in boxes:
        cv2.rectangle(picture, (int(left * w), int(top * h)), (int(right * w) - 1, int(bottom * h) - 1),
                      (255, 255, 0), 2)
    _, data = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        f.write(data.tobytes())


def format_table(rows: list[FrameLayout]) -> list[str]:
    lines = ["| frame | lane region: largest class | upper band: largest class | passes |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.name} | {r.lane_class} ({100 * r.lane_share:.0f} %) | "
                     f"{r.upper_class} ({100 * r.upper_share:.0f} %) | {'yes' if r.ok else 'no'} |")
    road, sky, both = (sum(getattr(r, k) for r in rows) for k in ("lane_ok", "upper_ok", "ok"))
    lines.append(f"\n{rows[0].road if rows else 'Road'} largest in the lane region: {road} of {len(rows)}; "
                 f"{rows[0].sky if rows else 'Sky'} in the upper band: {sky} of {len(rows)}; "
                 f"both: {both} of {len(rows)}")
    return lines
