"""segnet.export (the API ``segnet export`` runs), ONNX: onnxruntime matches PyTorch on a real frame
and at another size; a failure writes nothing."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import segnet
from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, model_from_checkpoint, save_checkpoint
from segnet.data.classes import CLASS_NAMES
from segnet.data.images import read_image
from segnet.models import create_model

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)
NORM = {"mean": [0.4, 0.4, 0.4], "std": [0.3, 0.3, 0.3]}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("export")
    model = create_model("fc_densenet", 11, **TINY)
    save_checkpoint(folder / "tiny.pt", model_fields(model, "fc_densenet", TINY, normalization=NORM))
    assert segnet.export(folder / "tiny.pt", folder / "m.onnx", format="onnx") == folder / "m.onnx"
    return folder


def _compare(folder, image: np.ndarray):
    model = model_from_checkpoint(load_checkpoint(folder / "tiny.pt")).eval()
    x = (torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0 - 0.4) / 0.3
    with torch.no_grad():
        expected = model(x).numpy()
    session = ort.InferenceSession(str(folder / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["logits"], {"image": x.numpy()})[0]
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-3
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.999


def test_onnxruntime_matches_pytorch_on_a_camvid_frame(exported, camvid_root):
    frame = read_image(sorted((camvid_root / "test").glob("*.png"))[0])
    assert frame.shape == (360, 480, 3)
    _compare(exported, frame)


def test_dynamic_batch_height_width(exported, camvid_root):
    frame = read_image(sorted((camvid_root / "test").glob("*.png"))[0])
    _compare(exported, frame[:201, :333].copy())  # another size, odd on both axes
    proto = onnx.load(str(exported / "m.onnx"))
    dims = [d.dim_param for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "", "height", "width"]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["normalization"]) == NORM and json.loads(meta["class_names"]) == CLASS_NAMES
    session = ort.InferenceSession(str(exported / "m.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"image": np.random.rand(2, 3, 64, 96).astype(np.float32)})[0]
    assert out.shape == (2, 11, 64, 96)


def test_export_writes_nothing_on_failure(exported, tmp_path, monkeypatch):
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(segnet.SegnetError, match="bad.pt"):
        segnet.export(tmp_path / "bad.pt", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.pt"]
    # a failure while writing (here: the ONNX checker) leaves neither the file nor a temporary one
    monkeypatch.setattr(onnx.checker, "check_model", lambda proto: (_ for _ in ()).throw(ValueError("checker says no")))
    with pytest.raises(segnet.SegnetError, match="ONNX export of fc_densenet failed: checker says no"):
        segnet.export(exported / "tiny.pt", tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.pt"]


@pytest.mark.parametrize("options, message", [
    ({"format": "tflite"}, "unknown export format 'tflite'"),
    ({"int8": True}, "int8 quantization needs format='openvino'"),
])
def test_bad_options_are_one_error(exported, tmp_path, options, message):
    with pytest.raises(segnet.SegnetError, match=message):
        segnet.export(exported / "tiny.pt", tmp_path / "m.onnx", **options)
    assert list(tmp_path.iterdir()) == []
