"""segnet.predict_files (the API ``segnet predict`` runs): outputs per image and video, inputs of
any kind, all-or-nothing failures; and the buffered FC-DenseNet inference path (segnet.inference.buffered)."""

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, model_from_checkpoint, save_checkpoint
from segnet.data.classes import CLASS_NAMES, PALETTE
from segnet.inference.buffered import BufferedFCDenseNet, prepare_for_inference
from segnet.jobs.visualize import overlay_palette
from segnet.models import create_model


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_model) -> Path:
    torch.manual_seed(0)
    model = tiny_model.build()
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, model_fields(model, "fc_densenet", tiny_model.options,
                                       normalization=tiny_model.normalization))
    return path


@pytest.fixture(scope="module")
def frames(camvid_root) -> list[np.ndarray]:
    """Two real CamVid test frames (RGB), cropped small to keep the tests fast."""
    names = sorted((camvid_root / "test").glob("Seq05VD_*.png"))[:2]
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB)[100:220, 40:200].copy() for p in names]


def _reference_ids(ckpt_path: Path, rgb: np.ndarray) -> np.ndarray:
    """Class ids straight from the model, float32, no segnet inference code."""
    ckpt = load_checkpoint(ckpt_path)
    model, norm = model_from_checkpoint(ckpt).eval(), ckpt["normalization"]
    x = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255.0
    x = (x - torch.tensor(norm["mean"]).view(1, 3, 1, 1)) / torch.tensor(norm["std"]).view(1, 3, 1, 1)
    with torch.no_grad():
        return model(x).argmax(1)[0].numpy().astype(np.uint8)


def _run(ckpt, *inputs, out, **options) -> dict:
    """segnet.predict_files with the model ``ckpt`` on the CPU."""
    model = segnet.load_model(ckpt, device="cpu", amp=options.pop("amp", "auto"))
    return segnet.predict_files(model, inputs, out, segnet.OutputOptions(**options))


# ----------------------------------------------------------------------------- images
def test_image_outputs_match_the_model(tiny_ckpt, frames, tmp_path):
    rgb = frames[0]
    images = tmp_path / "in"
    images.mkdir()
    cv2.imwrite(str(images / "frame.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(images / "gray.png"), gray)
    cv2.imwrite(str(images / "rgba.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGRA))
    cv2.imwrite(str(images / "odd.bmp"), cv2.cvtColor(rgb[:77, :101], cv2.COLOR_RGB2BGR))
    (images / "notes.txt").write_text("not an image")  # folders skip other files

    summary = _run(tiny_ckpt, images, out=tmp_path / "out", amp="off", batch_size=2)
    assert summary["images"] == 4 and summary["videos"] == []

    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [".segnet-outputs"] + sorted(
        f"{s}_{k}.png" for s in ("frame", "gray", "rgba", "odd") for k in ("labels", "color", "overlay")
    )
    labels = cv2.imread(str(out / "frame_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.dtype == np.uint8 and labels.shape == rgb.shape[:2]
    expected = _reference_ids(tiny_ckpt, rgb)
    assert (labels == expected).mean() > 0.999
    color = cv2.cvtColor(cv2.imread(str(out / "frame_color.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(color, PALETTE[labels])
    overlay = cv2.cvtColor(cv2.imread(str(out / "frame_overlay.png")), cv2.COLOR_BGR2RGB)
    bright = overlay_palette(CLASS_NAMES, PALETTE)  # overlays: colours that show on photos
    blend = (0.5 * rgb.astype(np.float32) + 0.5 * bright[labels].astype(np.float32))
    assert np.abs(overlay.astype(np.float32) - blend).max() <= 1.0
    gray_rgb = np.repeat(gray[..., None], 3, axis=2)
    assert (cv2.imread(str(out / "gray_labels.png"), cv2.IMREAD_UNCHANGED)
            == _reference_ids(tiny_ckpt, gray_rgb)).mean() > 0.999
    assert cv2.imread(str(out / "odd_labels.png"), cv2.IMREAD_UNCHANGED).shape == (77, 101)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


def test_glob_and_opacity(tiny_ckpt, frames, tmp_path):
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"f{i}.jpg"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    _run(tiny_ckpt, tmp_path / "f*.jpg", out=tmp_path / "out", opacity=1.0)
    out = tmp_path / "out"
    assert len(list(out.glob("*_overlay.png"))) == 2
    # opacity 1: the overlay is the labels in overlay colours
    labels = cv2.imread(str(out / "f0_labels.png"), cv2.IMREAD_UNCHANGED)
    overlay = cv2.cvtColor(cv2.imread(str(out / "f0_overlay.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(overlay, overlay_palette(CLASS_NAMES, PALETTE)[labels])


# ----------------------------------------------------------------------------- videos
def test_video_overlay_keeps_fps_size_and_frames(tiny_ckpt, frames, tmp_path, video_helpers):
    clip = tmp_path / "clip.avi"
    video_helpers.write(clip, frames * 3, fps=7.0)
    (video,) = _run(tiny_ckpt, clip, out=tmp_path / "out", batch_size=4)["videos"]
    assert (video["input"], video["frames"], video["output"]) == (str(clip), 6, "clip_overlay.webm")
    _run(tiny_ckpt, clip, out=tmp_path / "sbs", with_input=True)
    h, w = frames[0].shape[:2]
    for folder, width in (("out", w), ("sbs", 2 * w)):
        cap = cv2.VideoCapture(str(tmp_path / folder / "clip_overlay.webm"))
        assert cap.isOpened()
        assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(7.0)
        count = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            assert frame.shape[:2] == (h, width)
            count += 1
        assert count == 6


def test_video_writer_falls_back(tmp_path):
    from segnet.jobs.video import VideoWriter

    codecs = (("NOPE", ".mp4"), ("MJPG", ".avi"))
    with VideoWriter(tmp_path / "x", 5.0, (32, 16), codecs=codecs) as writer:
        writer.write(np.zeros((16, 32, 3), np.uint8))
    assert writer.codec == "MJPG" and writer.path.suffix == ".avi" and writer.path.stat().st_size > 0
    assert not (tmp_path / "x.mp4").exists()


# ----------------------------------------------------------------------------- failures
def _fails(tiny_ckpt, out, *inputs, checkpoint=None) -> str:
    """The one SegnetError the call raises; nothing written, not even the folder."""
    with pytest.raises(segnet.SegnetError) as raised:
        _run(checkpoint or tiny_ckpt, *inputs, out=out)
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if ".staging-" in p.name]
    return str(raised.value)


def test_bad_inputs_fail_with_one_error_and_no_output(tiny_ckpt, frames, tmp_path):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    out = tmp_path / "out"
    assert "input not found" in _fails(tiny_ckpt, out, good, tmp_path / "missing.png")
    (tmp_path / "empty").mkdir()
    assert "holds no image or video" in _fails(tiny_ckpt, out, tmp_path / "empty")
    (tmp_path / "x.gif").write_bytes(b"GIF89a")
    assert "cannot decode" in _fails(tiny_ckpt, out, good, tmp_path / "x.gif")  # a GIF is read, this one is junk
    (tmp_path / "junk.png").write_bytes(b"this is not a png")
    assert "junk.png" in _fails(tiny_ckpt, out, good, tmp_path / "junk.png")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 1000)
    assert "junk.mp4" in _fails(tiny_ckpt, out, good, tmp_path / "junk.mp4")
    assert "no image or video matches" in _fails(tiny_ckpt, out, tmp_path / "nothing*.png")
    # A PNG cut in half passes the up-front signature check and fails while decoding:
    # the image already done must not be left behind.
    data = good.read_bytes()
    (tmp_path / "zz_truncated.png").write_bytes(data[: len(data) // 2])
    assert "zz_truncated.png" in _fails(tiny_ckpt, out, good, tmp_path / "zz_truncated.png")


def test_checkpoint_of_another_model_fails_cleanly(tiny_ckpt, frames, tmp_path, tiny_model):
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
    ckpt = load_checkpoint(tiny_ckpt)
    wrong_classes = dict(ckpt, model=create_model("fc_densenet", 12, **tiny_model.options).state_dict())
    save_checkpoint(tmp_path / "c12.pt", wrong_classes)
    msg = _fails(tiny_ckpt, tmp_path / "out", good, checkpoint=tmp_path / "c12.pt")
    assert "do not fit fc_densenet with 11 classes" in msg
    other = dict(ckpt, model_options=dict(tiny_model.options, growth_rate=6))
    save_checkpoint(tmp_path / "arch.pt", other)
    assert "do not fit" in _fails(tiny_ckpt, tmp_path / "out", good, checkpoint=tmp_path / "arch.pt")
    (tmp_path / "garbage.pt").write_bytes(b"nope")
    assert "garbage.pt" in _fails(tiny_ckpt, tmp_path / "out", good, checkpoint=tmp_path / "garbage.pt")


def test_missing_bundled_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGNET_BUNDLED_MODEL", str(tmp_path / "absent.pt"))
    with pytest.raises(segnet.SegnetError, match="bundled model is missing.*absent.pt"):
        segnet.predict_files(None, [tmp_path / "good.png"], tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------- fast path
@pytest.mark.parametrize("channels_last", [True, False])
def test_buffered_forward_matches_the_model(channels_last, tiny_model):
    torch.manual_seed(0)
    model = tiny_model.build().eval()
    fast = prepare_for_inference(create_model("fc_densenet", 11, **tiny_model.options), channels_last=channels_last)
    fast.model.load_state_dict(model.state_dict())
    fast = prepare_for_inference(fast.model, channels_last=channels_last)
    assert isinstance(fast, BufferedFCDenseNet)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    with torch.no_grad():
        for shape in [(2, 3, 45, 61), (2, 3, 45, 61), (1, 3, 32, 40)]:  # repeat: reused workspace
            x = torch.rand(shape)
            ref = model(x)
            got = fast(x.contiguous(memory_format=memory_format))
            assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                got16 = fast(x.contiguous(memory_format=memory_format)).float()
            assert (got16.argmax(1) == ref.argmax(1)).float().mean() > 0.97
    with pytest.raises(RuntimeError):
        fast.train()


def test_bench_predict_smoke(tiny_ckpt, tmp_path):
    # Its own process, as users run it: OpenVINO, ONNX Runtime and torch objects all released in
    # one pytest process once crashed it (SIGSEGV) in the next test, during garbage collection.
    out = tmp_path / "bench.json"
    run = subprocess.run([sys.executable, "-m", "segnet", "bench", "predict", "--models",
                          "--checkpoint", str(tiny_ckpt), "--frames", "1", "--agree-frames", "1", "--size", "64", "96",
                          "--paths", "eager", "torch", "openvino", "onnxruntime", "--json", str(out)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "machine:" in run.stdout
    rows = json.loads(out.read_text())
    assert {(r["path"], r["precision"]) for r in rows} >= {("eager", "float32"), ("torch", "float32"),
                                                           ("openvino", "float32"), ("onnxruntime", "float32")}
    assert all(r["seconds_per_frame"] > 0 for r in rows)
    assert sum(bool(r.get("default")) for r in rows) == 1  # the path predict takes here
    # float32 runtimes give the torch labels on a real CamVid frame
    # (on AMX CPUs the bench adds torch bfloat16, which may differ on a pixel or two: not float32)
    assert all(r["agreement_with_torch_float32"] > 0.999 for r in rows if r["precision"] == "float32")
