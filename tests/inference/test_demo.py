"""The bundled model (tools/bundle_model.py, segnet.checkpoints.sources) as the API's default, and
segnet.demo (the API ``segnet demo`` runs: segnet.jobs.demo)."""

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, model_from_checkpoint, save_checkpoint
from segnet.data.classes import CLASS_NAMES, PALETTE
from segnet.data.images import read_image
from segnet.models import create_model

REPO = Path(__file__).resolve().parents[2]
TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
FRAMES = 4


def _tool():
    spec = importlib.util.spec_from_file_location("bundle_model", REPO / "tools" / "bundle_model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def training_ckpt(tmp_path_factory) -> Path:
    """A tiny checkpoint shaped like the trainer's best.pt (with training state)."""
    torch.manual_seed(0)
    model = create_model("fc_densenet", 11, **TINY)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    model(torch.rand(1, 3, 32, 32)).mean().backward()
    optimizer.step()
    path = tmp_path_factory.mktemp("run") / "best.pt"
    save_checkpoint(path, {**model_fields(model, "fc_densenet", TINY),
                           "optimizer": optimizer.state_dict(), "epoch": 7, "step": 70,
                           "rng": {"torch": torch.get_rng_state()}, "config": {"model": {"name": "fc_densenet"}},
                           "meta": {"command": "segnet train --config tiny.yaml"}})
    return path


@pytest.fixture(scope="module")
def bundle(training_ckpt, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("assets") / "camvid_bundled.pt"
    code = _tool().main([str(training_ckpt), "--out", str(out), "--test-miou", "61.5",
                         "--command", "segnet train --config x.yaml"])
    assert code == 0
    return out


def test_bundle_is_small_fp16_and_predicts_like_the_original(bundle, training_ckpt, camvid_root):
    assert bundle.stat().st_size < 10 * 2**20
    assert bundle.stat().st_size < training_ckpt.stat().st_size
    ckpt = load_checkpoint(bundle)
    assert not {"optimizer", "rng", "config", "scheduler", "scaler"} & set(ckpt)
    assert all(v.dtype == torch.float16 for v in ckpt["model"].values() if v.is_floating_point())
    meta = ckpt["meta"]
    assert meta["architecture"] == "fc_densenet" and meta["classes"] == CLASS_NAMES
    assert meta["palette"] == PALETTE.tolist() and meta["test_miou"] == pytest.approx(0.615)
    assert meta["command"] == "segnet train --config x.yaml" and meta["weights_dtype"] == "float16"

    original = model_from_checkpoint(load_checkpoint(training_ckpt)).eval()
    half = model_from_checkpoint(ckpt).eval()
    frame = read_image(sorted((camvid_root / "test").glob("*.png"))[0])
    x = torch.from_numpy(frame).permute(2, 0, 1)[None].float() / 255.0
    with torch.no_grad():
        a, b = original(x), half(x)
    assert (a - b).abs().max() < 0.05 * a.abs().max()
    assert (a.argmax(1) == b.argmax(1)).float().mean() > 0.99


def test_bundle_refuses_an_oversized_model(training_ckpt, tmp_path, capsys):
    out = tmp_path / "b.pt"
    assert _tool().main([str(training_ckpt), "--out", str(out), "--max-mb", "0.001"]) == 2
    assert "over the" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_predict_uses_the_bundle_by_default(bundle, camvid_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGNET_BUNDLED_MODEL", str(bundle))
    image = sorted((camvid_root / "test").glob("*.png"))[0]
    model = segnet.load_model(device="cpu")
    assert model.source == str(bundle) and "recorded test mIoU 61.5" in model.describe()
    segnet.predict_files(model, [image], tmp_path / "out")
    assert (tmp_path / "out" / f"{image.stem}_labels.png").is_file()


@pytest.fixture(scope="module")
def seq_root(camvid_root, tmp_path_factory) -> Path:
    """A CamVid root with a few Seq05VD frames (and one frame of the other sequence)."""
    root = tmp_path_factory.mktemp("camvid")
    (root / "test").mkdir()
    (root / "testannot").mkdir()
    images = (sorted((camvid_root / "test").glob("Seq05VD_*.png"))[:FRAMES]
              + sorted((camvid_root / "test").glob("0001TP_*.png"))[:1])
    for image in images:
        (root / "test" / image.name).symlink_to(image)
        (root / "testannot" / image.name).symlink_to(camvid_root / "testannot" / image.name)
    return root


def test_demo(bundle, seq_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGNET_BUNDLED_MODEL", str(bundle))
    out = tmp_path / "demo"
    demo = segnet.demo(segnet.load_model(device="cpu", amp="off"), seq_root, out)
    assert demo.frames == FRAMES and demo.frames_per_second > 0 and demo.fps == 5.0
    result = demo.evaluation
    assert result.num_images == FRAMES and result.split == "test/Seq05VD" and list(result.per_class_iou) == CLASS_NAMES
    assert "mIoU" in result.table() and all(name in result.table() for name in CLASS_NAMES)
    names = {p.name for p in out.iterdir()}
    assert {"Seq05VD_overlay.webm", "metrics.json", "per_class_iou.csv", "confusion_matrix.png"} <= names
    assert demo.overlay == out / "Seq05VD_overlay.webm" and demo.clip.parent == out and demo.clip.name in names
    cap = cv2.VideoCapture(str(demo.overlay))
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(5.0)
    count = 0
    while cap.read()[0]:
        count += 1
    assert count == FRAMES

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_images"] == FRAMES
    np.testing.assert_array_equal(np.array(metrics["confusion_matrix"]), result.confusion)
    # With the lossless clip the demo's IoU is that of the PNG frames (segnet.evaluate's).
    if demo.codec == "FFV1":
        only_seq = tmp_path / "seq"
        (only_seq / "test").mkdir(parents=True)
        (only_seq / "testannot").mkdir()
        for p in (seq_root / "test").glob("Seq05VD_*.png"):
            (only_seq / "test" / p.name).symlink_to(p.resolve())
            (only_seq / "testannot" / p.name).symlink_to((seq_root / "testannot" / p.name).resolve())
        evaluated = segnet.evaluate(segnet.load_model(device="cpu", amp="off"), only_seq)
        a, b = evaluated.confusion, result.confusion
        assert np.abs(a - b).sum() <= 1e-4 * a.sum()  # batch 2 vs 1: rounding at near-ties only


def test_demo_without_bundle_or_frames(bundle, tmp_path, seq_root, monkeypatch):
    monkeypatch.setenv("SEGNET_BUNDLED_MODEL", str(tmp_path / "absent.pt"))
    with pytest.raises(segnet.SegnetError, match="bundled model is missing"):
        segnet.demo(None, seq_root, tmp_path / "demo")
    monkeypatch.setenv("SEGNET_BUNDLED_MODEL", str(bundle))
    empty = tmp_path / "empty"
    for d in ("test", "testannot"):
        (empty / d).mkdir(parents=True)
    (empty / "test" / "0001TP_1.png").symlink_to(next((seq_root / "test").glob("0001TP_*.png")).resolve())
    (empty / "testannot" / "0001TP_1.png").symlink_to(next((seq_root / "testannot").glob("0001TP_*.png")).resolve())
    with pytest.raises(segnet.SegnetError, match="no Seq05VD_\\*.png frames"):
        segnet.demo(segnet.load_model(device="cpu"), empty, tmp_path / "demo")
    with pytest.raises(segnet.SegnetError, match="fps must be positive, got 0"):
        segnet.demo(segnet.load_model(device="cpu"), seq_root, tmp_path / "demo", fps=0)
    assert not (tmp_path / "demo").exists()
