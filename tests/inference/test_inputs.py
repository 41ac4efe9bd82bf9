"""What segnet predict reads and where each input's outputs go: mirrored folders for same-stem
inputs, refusal of real collisions only, cameras and URLs recognised (not "input not found"),
and outputs never read back as inputs."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from segnet.cli import main
from segnet.errors import SegnetError
from segnet.jobs.inputs import MANIFEST, collect_inputs


def _image(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.random.default_rng(seed).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)
    return path


def _predict(ckpt, *argv) -> int:
    return main(["predict", "--checkpoint", str(ckpt), *map(str, argv), "--device", "cpu", "--amp", "off"])


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_same_stem_in_two_folders_mirrors_the_folders(tiny_model_ckpt, tmp_path, capsys):
    a, b = _image(tmp_path / "x" / "a.png", 1), _image(tmp_path / "y" / "a.png", 2)
    assert [(i.name, i.kind) for i in collect_inputs([str(a), str(b)])] == [("x/a", "image"), ("y/a", "image")]
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, a, b, "--out", out) == 0
    kinds = ("color", "labels", "overlay")
    assert _files(out) == sorted([f"x/{MANIFEST}", f"y/{MANIFEST}"] + [f"{d}/a_{k}.png" for d in "xy" for k in kinds])
    # different pictures, different labels: each output comes from its own input
    assert not np.array_equal(cv2.imread(str(out / "x/a_overlay.png")), cv2.imread(str(out / "y/a_overlay.png")))


def test_one_folder_writes_flat(tmp_path):
    a, b = _image(tmp_path / "in" / "a.png"), _image(tmp_path / "in" / "b.jpg")
    assert [i.name for i in collect_inputs([str(tmp_path / "in")])] == ["a", "b"]
    assert [i.name for i in collect_inputs([str(a), str(b)])] == ["a", "b"]  # files named one by one, too
    assert [i.name for i in collect_inputs([str(a)])] == ["a"]


def test_image_and_video_with_one_stem_both_run(tiny_model_ckpt, clip, tmp_path):
    image = _image(tmp_path / "clip.jpg")
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, image, clip, "--out", out) == 0
    assert {"clip_labels.png", "clip_color.png", "clip_overlay.png"} <= set(_files(out))
    assert any(name.startswith("clip_overlay.") and not name.endswith(".png") for name in _files(out))


def test_a_real_collision_is_refused_naming_both(clip, tmp_path):
    other = tmp_path / "clip.mkv"
    other.write_bytes(clip.read_bytes())  # same stem, both would write clip_overlay.*
    with pytest.raises(SegnetError, match=r"clip\.avi and .*clip\.mkv would both write clip_overlay"):
        collect_inputs([str(clip), str(other)])


@pytest.mark.parametrize("spec, message", [
    ("rtsp://127.0.0.1:1/stream", "cannot open rtsp://127.0.0.1:1/stream: unreachable"),
    ("http://127.0.0.1:1/clip.avi", "cannot open http://127.0.0.1:1/clip.avi: unreachable"),
    ("97", "cannot open camera 97"),
    ("/dev/video97", "cannot open camera /dev/video97"),
])
def test_cameras_and_urls_are_live_sources_not_files(spec, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", spec, "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("segnet: error: ") and message in err[0], err
    assert "input not found" not in err[0] and not out.exists()


def test_a_file_or_folder_named_like_a_camera_is_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("0").write_text("x")
    with pytest.raises(SegnetError, match="unsupported file type '0'"):
        collect_inputs(["0"])
    _image(tmp_path / "1" / "a.png")
    assert [(i.source, i.kind) for i in collect_inputs(["1"])] == [(Path("1/a.png"), "image")]


def test_outputs_are_never_read_back(tiny_model_ckpt, tmp_path):
    folder = tmp_path / "photos"
    _image(folder / "a.png")
    assert _predict(tiny_model_ckpt, folder, "--out", folder) == 0
    first = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    assert _predict(tiny_model_ckpt, folder, "--out", folder) == 0  # second run: only a.png again
    assert sorted(p.name for p in folder.iterdir()) == sorted(first)
    assert not [n for n in first if "_color_" in n or "_overlay_" in n or "_labels_" in n]
    # a glob over the folder, and the folder given as input to another --out, skip them too
    assert [i.name for i in collect_inputs([str(folder / "*.png")])] == ["a"]
    assert [i.name for i in collect_inputs([str(folder)])] == ["a"]
    # a user's own file that happens to end in _color.png is an input
    _image(folder / "b_color.png")
    assert [i.name for i in collect_inputs([str(folder)])] == ["a", "b_color"]


def test_a_folder_of_outputs_only_is_one_clear_error(tiny_model_ckpt, tmp_path, capsys):
    _image(tmp_path / "in" / "a.png")
    assert _predict(tiny_model_ckpt, tmp_path / "in", "--out", tmp_path / "out") == 0
    capsys.readouterr()
    assert _predict(tiny_model_ckpt, tmp_path / "out", "--out", tmp_path / "again") == 2
    assert "holds no image or video" in capsys.readouterr().err


def test_a_folder_named_like_a_frame_folder_is_merged_not_replaced(tiny_model_ckpt, tmp_path):
    a, b = _image(tmp_path / "cam_frames" / "a.png", 1), _image(tmp_path / "other" / "b.png", 2)
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, a, b, "--out", out) == 0
    c = _image(tmp_path / "cam_frames" / "c.png", 3)
    assert _predict(tiny_model_ckpt, c, b, "--out", out) == 0
    assert {"cam_frames/a_labels.png", "cam_frames/c_labels.png"} <= set(_files(out))


def test_an_output_never_overwrites_an_input(tiny_model_ckpt, tmp_path, capsys):
    folder = tmp_path / "photos"
    _image(folder / "a.png", 1)
    mine = _image(folder / "a_color.png", 2)  # the user's own picture, named like a's colour map
    before = mine.read_bytes()
    assert _predict(tiny_model_ckpt, folder, "--out", folder) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "a_color.png" in err[0] and "would overwrite that input" in err[0]
    assert mine.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["a.png", "a_color.png"]
    assert _predict(tiny_model_ckpt, folder, "--out", tmp_path / "out") == 0  # elsewhere: both are inputs
