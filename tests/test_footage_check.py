"""segnet.bench.footage and tools/footage_check.py: the layout check for held-out footage (road in
the lane ahead, sky on top) counts what it says, and bad input is one line."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segnet.bench.footage import footage_check, format_table, largest_class, region
from segnet.data.classes import load_classes
from segnet.errors import SegnetError

REPO = Path(__file__).resolve().parent.parent
TOOL = REPO / "tools" / "footage_check.py"
SKY, BUILDING, ROAD, CAR = 0, 1, 3, 8  # CamVid ids


class LayoutModel:
    """Stands in for a segnet.Model: predicts a fixed layout for every frame."""

    def __init__(self, layout):
        self.classes, self.layout = load_classes(None), layout

    def predict(self, image):
        return self.layout(*image.shape[:2])

    def overlay(self, image, labels, legend=False):
        return image


def street(h, w):
    labels = np.full((h, w), BUILDING, np.uint8)
    labels[: h // 4] = SKY
    labels[h // 2 :] = ROAD
    return labels


def frames(tmp_path, n=3, size=(540, 960)):
    paths = []
    for i in range(n):
        path = tmp_path / f"frame{i}.png"
        cv2.imwrite(str(path), np.full((*size, 3), 40 * i, np.uint8))
        paths.append(path)
    return paths


def test_regions_and_the_largest_class():
    labels = street(100, 200)
    assert region(labels, (0.6, 0.85, 0.35, 0.65)).shape == (25, 60)
    assert region(labels, (0.99, 1.0, 0.0, 0.001)).shape == (1, 1)  # never empty
    assert largest_class(labels[:25], 11) == (SKY, 1.0)
    mixed = np.array([[ROAD, ROAD, CAR, 11, 11, 11]], np.uint8)  # void (11) never wins
    assert largest_class(mixed, 11) == (ROAD, pytest.approx(2 / 6))


def test_a_street_layout_passes_and_a_car_ahead_fails_the_lane(tmp_path):
    paths = frames(tmp_path)
    rows = footage_check(LayoutModel(street), paths, overlays=tmp_path / "out")
    assert [r.ok for r in rows] == [True] * 3 and rows[0].lane_share == 1.0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"frame{i}_layout.png" for i in range(3)]

    def car_ahead(h, w):
        labels = street(h, w)
        labels[h // 2 :, w // 4 : 3 * w // 4] = CAR
        return labels

    rows = footage_check(LayoutModel(car_ahead), paths)
    assert [(r.lane_class, r.upper_class, r.ok) for r in rows] == [("Car", "Sky", False)] * 3
    assert format_table(rows)[-1].endswith("Road largest in the lane region: 0 of 3; Sky in the upper band: 3 of 3; "
                                           "both: 0 of 3")


def test_refusals_name_the_value(tmp_path):
    with pytest.raises(SegnetError, match="lane region 0.9 0.5"):
        footage_check(LayoutModel(street), frames(tmp_path, 1), lane=(0.9, 0.5, 0.3, 0.6))
    with pytest.raises(SegnetError, match="no class 'Lane'"):
        footage_check(LayoutModel(street), frames(tmp_path, 1), road="Lane")


def run(*args):
    return subprocess.run([sys.executable, str(TOOL), *map(str, args)], capture_output=True, text=True, cwd=REPO)


def test_the_tool_on_camvid_frames_through_a_dashcam_sized_frame(tmp_path, camvid_root):
    """The bundled model on 960x540 frames made from CamVid test frames (a 16:9 crop, upscaled): the
    table has one row per frame and --require sets the exit code."""
    names = sorted((camvid_root / "test").iterdir())[:2]
    for path in names:
        image = cv2.imread(str(path))
        cv2.imwrite(str(tmp_path / path.name), cv2.resize(image[45:315], (960, 540)))
    done = run(tmp_path, "--require", "0", "--overlays", tmp_path / "overlays")
    assert done.returncode == 0, done.stderr
    assert sum(line.startswith(f"| {p.name} |") for p in names for line in done.stdout.splitlines()) == 2
    assert len(list((tmp_path / "overlays").glob("*_layout.png"))) == 2
    assert run(tmp_path, "--require", "3").returncode == 1  # 2 frames cannot reach 3


def test_the_tool_refuses_bad_input_in_one_line(tmp_path):
    for args, words in [((tmp_path / "missing.png",), "not found"), ((tmp_path,), "no images"),
                        ((tmp_path / "x.png", "--lane", "0.5", "0.4", "0", "1"), "lane region")]:
        (tmp_path / "x.png").write_bytes(b"") if "--lane" in args else None
        done = run(*args)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and words in done.stderr, (args, done.stderr)
