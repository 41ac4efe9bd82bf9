"""Bad inputs to every ``segnet`` command, run as a user runs them (one subprocess per case).

Every case must end with a non-zero exit, exactly one ``segnet: error: ...`` line on stderr
that names the cause (file, key or value), no traceback, and no new file where the command
writes (output folder, run folder, their parent: no temp or staging leftovers). Odd inputs
that are fine (RGBA, grayscale) must work. A NaN loss must keep the last good checkpoint, and
a checkpoint that carries code must be refused without running it.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from .conftest import assert_clean_failure, checkpoint_payload, first, run_segnet, tiny_recipe, tree, write_rgb

CASES = {}


def case(fn):
    """Register ``fn(ctx) -> (argv, names the error line must contain)`` as one bad-input case."""
    CASES[fn.__name__] = fn
    return fn


class Ctx:
    """What a case builds from: a private tmp folder, a private copy of tiny CamVid, the tiny checkpoint."""

    def __init__(self, tmp_path: Path, root: Path, ckpt: Path):
        self.tmp, self.root, self.ckpt = tmp_path, root, ckpt

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def image(self, name: str = "frame.png") -> Path:
        return write_rgb(self.tmp / "in" / name,
                         cv2.cvtColor(cv2.imread(str(first(self.root, "test"))), cv2.COLOR_BGR2RGB))

    def checkpoint(self, name: str, **kwargs) -> Path:
        from segnet.checkpoints.checkpoint import save_checkpoint

        save_checkpoint(self.tmp / name, checkpoint_payload(**kwargs))
        return self.tmp / name

    def recipe(self, data_root: Path | None = None, **train) -> Path:
        return tiny_recipe(self.tmp / "recipe.yaml", data_root or self.root, self.tmp / "runs" / "run", **train)

    def train(self, *overrides: str, data_root: Path | None = None, **stage):
        return ["train", "--config", self.recipe(data_root, **stage), *overrides]

    def evaluate(self, ckpt: Path | None = None, split: str = "test"):
        return ["evaluate", "--checkpoint", ckpt or self.ckpt, "--data-root", self.root, "--split", split,
                "--device", "cpu", "--out", self.tmp / "eval"]

    def predict(self, *inputs, ckpt: Path | None = None, out: Path | None = None):
        out = out or self.tmp / "pred" / "out"
        return ["predict", "--checkpoint", ckpt or self.ckpt, *inputs, "--device", "cpu", "--out", out]

    def export(self, ckpt: Path | None = None, out: Path | None = None):
        out = out or self.tmp / "onnx" / "model.onnx"
        return ["export", "--checkpoint", ckpt or self.ckpt, "--out", out]


def png_bytes(ctx: Ctx) -> bytes:
    return first(ctx.root, "test").read_bytes()


def jpeg_bytes(ctx: Ctx) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.imread(str(first(ctx.root, "test"))))
    assert ok
    return buf.tobytes()


def truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def corrupt(data: bytes) -> bytes:
    """The file's signature and header, then garbage."""
    return data[:40] + bytes(range(256)) * 8


def set_label(root: Path, split: str, label: np.ndarray) -> Path:
    path = first(root, f"{split}annot")
    assert cv2.imwrite(str(path), label)
    return path


# ----------------------------------------------------------------------------- data check
@case
def data_check_missing_root(ctx):
    return ["data", "check", "--root", ctx.tmp / "no_such_root"], ["no_such_root"]


@case
def data_check_corrupt_label(ctx):
    bad = first(ctx.root, "trainannot")
    bad.write_bytes(corrupt(bad.read_bytes()))
    return ["data", "check", "--root", ctx.root], [bad.name]


# ----------------------------------------------------------------------------- train: config
@case
def train_config_not_found(ctx):
    return ["train", "--config", ctx.tmp / "missing.yaml"], ["missing.yaml"]


@case
def train_unknown_key(ctx):
    argv = ctx.train("train.learning_rate=0.1")
    return argv, ["train.learning_rate"]


@case
def train_negative_lr(ctx):
    argv = ctx.train("train.lr=-0.01")
    return argv, ["train.lr", "-0.01"]


@case
def train_bad_type(ctx):
    argv = ctx.train("train.epochs=many")
    return argv, ["train.epochs", "many"]


@case
def train_crop_larger_than_images(ctx):
    argv = ctx.train(crop_size=96)  # the tiny frames are 64x64
    return argv, ["96"]


# ----------------------------------------------------------------------------- train: data
@case
def train_missing_data_root(ctx):
    argv = ctx.train(data_root=ctx.tmp / "no_camvid_here")
    return argv, ["no_camvid_here"]


@case
def train_empty_split(ctx):
    for folder in ("train", "trainannot"):
        for p in (ctx.root / folder).iterdir():
            p.unlink()
    argv = ctx.train()
    return argv, [str(ctx.root / "train")]


@case
def train_missing_label_partner(ctx):
    label = first(ctx.root, "trainannot")
    label.unlink()
    argv = ctx.train()
    return argv, [label.name]


@case
def train_truncated_png_image(ctx):
    image = first(ctx.root, "train")
    image.write_bytes(truncated(image.read_bytes()))
    argv = ctx.train()
    return argv, [image.name]


@case
def train_label_out_of_range(ctx):
    path = set_label(ctx.root, "train", np.full((64, 64), 200, np.uint8))
    argv = ctx.train()
    return argv, [path.name, "200"]


@case
def train_label_three_channels(ctx):
    path = set_label(ctx.root, "train", np.full((64, 64, 3), 7, np.uint8))  # not a palette colour
    argv = ctx.train()
    return argv, [path.name]


@case
def train_run_dir_under_a_file(ctx):
    blocker = ctx.file("blocker", b"a regular file")
    recipe = tiny_recipe(ctx.tmp / "recipe.yaml", ctx.root, blocker / "run")
    return ["train", "--config", recipe], [str(blocker)]


@case
def train_resume_truncated_checkpoint(ctx):
    from segnet.checkpoints.checkpoint import save_checkpoint

    run = ctx.tmp / "run"
    run.mkdir()
    save_checkpoint(run / "last.pt", checkpoint_payload())
    data = (run / "last.pt").read_bytes()
    (run / "last.pt").write_bytes(truncated(data))
    return ["train", "--resume", run], [str(run / "last.pt")]


# ----------------------------------------------------------------------------- evaluate
@case
def evaluate_truncated_checkpoint(ctx):
    argv = ctx.evaluate(ctx.file("half.pt", truncated(ctx.ckpt.read_bytes())))
    return argv, ["half.pt"]


@case
def evaluate_other_class_count(ctx):
    argv = ctx.evaluate(ctx.checkpoint("five.pt", num_classes=5))
    return argv, ["five.pt", "5 classes"]


@case
def evaluate_missing_data_root(ctx):
    argv = ctx.evaluate()
    argv[argv.index("--data-root") + 1] = ctx.tmp / "no_camvid_here"
    return argv, ["no_camvid_here"]


@case
def evaluate_size_mismatch(ctx):
    path = sorted((ctx.root / "testannot").glob("*.png"))[-1]  # the second frame: after one batch
    assert cv2.imwrite(str(path), np.zeros((64, 32), np.uint8))
    argv = ctx.evaluate()
    argv[argv.index("--device"):argv.index("--device")] = ["--batch-size", "1"]
    return argv, [path.name, "64x32"]


@case
def evaluate_corrupt_jpeg_image(ctx):
    image = first(ctx.root, "test")
    image.unlink()
    bad = ctx.root / "test" / (image.stem + ".jpg")
    bad.write_bytes(corrupt(jpeg_bytes(ctx)))
    argv = ctx.evaluate()
    return argv, [bad.name]


@case
def evaluate_out_under_a_file(ctx):
    blocker = ctx.file("blocker", b"a regular file")
    argv = ctx.evaluate()
    argv[argv.index("--out") + 1] = blocker / "eval"
    return argv, [str(blocker)]


# ----------------------------------------------------------------------------- predict
@case
def predict_missing_input(ctx):
    argv = ctx.predict(ctx.tmp / "nothing.png")
    return argv, ["nothing.png"]


@case
def predict_zero_byte_png(ctx):
    argv = ctx.predict(ctx.image(), ctx.file("empty.png", b""))
    return argv, ["empty.png"]


@case
def predict_corrupt_png(ctx):
    argv = ctx.predict(ctx.image(), ctx.file("corrupt.png", corrupt(png_bytes(ctx))))
    return argv, ["corrupt.png"]


@case
def predict_truncated_png(ctx):
    argv = ctx.predict(ctx.image(), ctx.file("zz_half.png", truncated(png_bytes(ctx))))
    return argv, ["zz_half.png"]


@case
def predict_corrupt_jpeg(ctx):
    argv = ctx.predict(ctx.image(), ctx.file("corrupt.jpg", corrupt(jpeg_bytes(ctx))))
    return argv, ["corrupt.jpg"]


@case
def predict_truncated_jpeg(ctx):
    argv = ctx.predict(ctx.image(), ctx.file("zz_half.jpg", truncated(jpeg_bytes(ctx))))
    return argv, ["zz_half.jpg"]


@case
def predict_text_named_mp4(ctx):
    argv = ctx.predict(ctx.file("notes.mp4", b"this is a text file, not a video\n" * 20))
    return argv, ["notes.mp4"]


@case
def predict_video_without_frames(ctx):
    path = ctx.tmp / "empty.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 64))
    assert writer.isOpened()
    writer.release()
    argv = ctx.predict(path)
    return argv, ["empty.avi"]


@case
def predict_out_under_a_file(ctx):
    blocker = ctx.file("blocker", b"a regular file")
    argv = ctx.predict(ctx.image(), out=blocker / "out")
    return argv, [str(blocker)]


@case
def predict_other_class_count(ctx):
    ckpt = ctx.checkpoint("c12.pt", state_classes=12)  # says 11 classes, holds weights for 12
    argv = ctx.predict(ctx.image(), ckpt=ckpt)
    return argv, ["c12.pt", "11 classes"]


@case
def predict_unreachable_stream(ctx):
    argv = ctx.predict("rtsp://127.0.0.1:1/stream")  # port 1 on this machine: refused at once
    return argv, ["rtsp://127.0.0.1:1/stream"]  # the URL as given (was "input not found: rtsp:/...")


@case
def predict_missing_camera(ctx):
    argv = ctx.predict("/dev/video97")
    return argv, ["camera /dev/video97"]


@case
def predict_two_videos_one_output(ctx):
    clip = ctx.tmp / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 64))
    writer.write(np.zeros((64, 64, 3), np.uint8))
    writer.release()
    (ctx.tmp / "clip.mkv").write_bytes(clip.read_bytes())
    argv = ctx.predict(clip, ctx.tmp / "clip.mkv")
    return argv, ["clip.avi", "clip.mkv", "clip_overlay"]


@case
def predict_rescale_frame_without_frame_size(ctx):
    argv = ctx.predict(ctx.image()) + ["--rescale", "frame"]  # the tiny checkpoint predates frame_size
    return argv, ["tiny.pt", "frame_size", "rescale factor"]


@case
def predict_malformed_frame_size(ctx):
    from segnet.checkpoints.checkpoint import save_checkpoint

    save_checkpoint(ctx.tmp / "flat.pt", {**checkpoint_payload(), "frame_size": [0, 48]})
    return ctx.predict(ctx.image(), ckpt=ctx.tmp / "flat.pt"), ["flat.pt", "frame_size", "[0, 48]"]


@case
def predict_max_frames_zero(ctx):
    argv = ctx.predict(ctx.image()) + ["--max-frames", "0"]
    return argv, ["--max-frames", "0"]


@case
def demo_opacity_out_of_range(ctx):
    return ["demo", "--opacity", "5", "--data-root", ctx.root, "--out", ctx.tmp / "demo"], ["--opacity", "[0, 1]", "5"]


# ----------------------------------------------------------------------------- export
@case
def export_weights_of_another_architecture(ctx):
    argv = ctx.export(ctx.checkpoint("wide.pt", options=dict(checkpoint_payload()["model_options"], growth_rate=6)))
    return argv, ["wide.pt", "do not fit"]


@case
def export_out_under_a_file(ctx):
    blocker = ctx.file("blocker", b"a regular file")
    argv = ctx.export(out=blocker / "model.onnx")
    return argv, [str(blocker)]


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, camvid_copy, tiny_ckpt, tmp_path):
    ctx = Ctx(tmp_path / "case", camvid_copy, tiny_ckpt)
    ctx.tmp.mkdir()
    argv, names = CASES[name](ctx)
    before = tree(ctx.tmp)  # every output of a case goes under ctx.tmp (also its working folder)
    data_before = tree(camvid_copy)
    result = run_segnet(*argv, cwd=ctx.tmp)
    assert_clean_failure(result, *names, code=1 if argv[0] == "data" else 2)
    assert tree(ctx.tmp) == before, f"{name} left files behind: {sorted(tree(ctx.tmp) ^ before)}"
    assert tree(camvid_copy) == data_before  # nothing written into the data either


def test_bad_input_count():
    assert len(CASES) >= 30  # and below: a checkpoint carrying code, a NaN loss, odd images that work


# ----------------------------------------------------------------------------- code in a checkpoint
class _RunsCode:
    """Unpickling this calls ``exec`` (a stand-in for os.system): it would create the marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.mark.parametrize("command", ["evaluate", "predict", "export"])
def test_checkpoint_that_carries_code_is_refused(command, camvid_copy, tiny_ckpt, tmp_path):
    marker = tmp_path / "MARKER_code_ran"
    evil = tmp_path / "evil.pt"
    torch.save({"model": {}, "model_name": "fc_densenet", "payload": _RunsCode(marker)}, evil)
    with zipfile.ZipFile(evil) as z:
        assert b"exec" in z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    ctx = Ctx(tmp_path / "case", camvid_copy, evil)
    ctx.tmp.mkdir()
    argv = {"evaluate": ctx.evaluate, "predict": lambda: ctx.predict(ctx.image()), "export": ctx.export}[command]()
    before = tree(ctx.tmp)
    result = run_segnet(*argv, cwd=ctx.tmp)
    line = assert_clean_failure(result, "evil.pt", "refused")
    assert not marker.exists(), "unpickling ran code from the checkpoint"
    assert "weights" in line and "exec" in line  # names what it refused
    assert tree(ctx.tmp) == before
    # and it is a real exploit: an unsafe load runs it
    torch.load(evil, weights_only=False)
    assert marker.exists()


# ----------------------------------------------------------------------------- NaN loss
def test_nan_loss_stops_training_and_keeps_the_last_good_checkpoint(camvid_copy, tmp_path):
    from segnet.checkpoints.checkpoint import load_checkpoint, model_from_checkpoint

    run = tmp_path / "runs" / "run"
    recipe = tiny_recipe(tmp_path / "recipe.yaml", camvid_copy, run, epochs=3)
    result = run_segnet("train", "--config", recipe, "debug.nan_at_step=3", "data.limit_val=1", cwd=tmp_path)
    line = assert_clean_failure(result, "loss is nan", "step 3", str(run / "last.pt"))
    assert "last good checkpoint kept" in line
    ckpt = load_checkpoint(run / "last.pt")  # 2 frames, batch 1: epoch 1 = steps 1-2
    assert (ckpt["epoch"], ckpt["step"]) == (1, 2)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    model_from_checkpoint(ckpt)
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- odd images that work
@pytest.mark.parametrize("kind", ["rgba", "grayscale"])
def test_odd_images_are_converted(kind, tiny_root, tiny_ckpt, tmp_path):
    from segnet.data.classes import PALETTE

    bgr = cv2.imread(str(first(tiny_root, "test")))
    odd = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA) if kind == "rgba" else cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if kind == "rgba":
        odd[..., 3] = 128  # alpha is dropped, not blended
    path = tmp_path / f"{kind}.png"
    assert cv2.imwrite(str(path), odd)
    out = tmp_path / "out"
    result = run_segnet("predict", "--checkpoint", tiny_ckpt, path, "--device", "cpu", "--out", out, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result
    assert sorted(p.name for p in out.iterdir()) == (
        [".segnet-outputs"] + [f"{kind}_{s}.png" for s in ("color", "labels", "overlay")])
    labels = cv2.imread(str(out / f"{kind}_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (64, 64) and labels.dtype == np.uint8 and labels.max() < 11
    color = cv2.cvtColor(cv2.imread(str(out / f"{kind}_color.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(color, PALETTE[labels])
    overlay = cv2.imread(str(out / f"{kind}_overlay.png"), cv2.IMREAD_UNCHANGED)
    assert overlay.shape == (64, 64, 3)
