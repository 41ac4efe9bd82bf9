"""segnet.deploy.quantize: the rescaling that makes an FC-DenseNet fit for per-tensor INT8 keeps
its function, and an INT8 OpenVINO export agrees with float32 on a model whose stacks mix maps of
very different scales (what broke the bundled model's INT8: 4 % of pixels agreed)."""

import copy

import pytest
import torch

from segnet.checkpoints.checkpoint import model_fields
from segnet.deploy.quantize import (SlicingTransitionUp, channel_ranges, crop_by_slicing, equalize_ranges,
                                    rescale_channels, stack_convs)
from segnet.models.blocks import TransitionUp


def badly_scaled(tiny_model) -> torch.nn.Module:
    """The tiny trained-like FC-DenseNet with the bundled model's trait, same function: the maps
    of one stack on scales 100x apart (every conv's output channels x 0.01..1, every consumer
    scaling them back), as a trained FC-DenseNet's BNs leave them."""
    torch.manual_seed(0)
    model = tiny_model.build().eval()
    g = torch.Generator().manual_seed(3)
    scales = {conv: 10 ** (-2 * torch.rand(conv.out_channels, generator=g)) for conv in stack_convs(model)}
    scales[model.first_conv] = torch.full((model.first_conv.out_channels,), 0.01)
    return rescale_channels(model, scales)


def _frames(count: int, size=(48, 64), seed=0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(1, 3, *size, generator=g) * 2 - 1 for _ in range(count)]


@torch.no_grad()
def test_rescaling_keeps_the_function(tiny_model):
    torch.manual_seed(0)
    model = tiny_model.build().eval()
    scaled = badly_scaled(tiny_model)
    prepared = crop_by_slicing(equalize_ranges(copy.deepcopy(scaled), _frames(3)))
    for x in _frames(2, (37, 53), seed=1) + _frames(1, (64, 96), seed=2):  # odd sizes: crops on both axes
        expected = model(x)
        tolerance = 1e-4 * max(1.0, expected.abs().max().item())
        assert (scaled(x) - expected).abs().max() <= tolerance
        assert (prepared(x) - expected).abs().max() <= tolerance
    assert min(r.min() for r in channel_ranges(scaled, _frames(3)).values()) < 0.05  # there is something to fix
    for r in channel_ranges(prepared, _frames(3)).values():  # every map of every stack spans [-1, 1]
        assert torch.allclose(r, torch.ones_like(r), atol=1e-4)


@pytest.mark.parametrize("size, skip", [((5, 7), (11, 15)), ((11, 15), (22, 30)), ((22, 30), (45, 60)),
                                        ((3, 3), (6, 7))])
def test_slicing_crop_is_the_centre_crop(size, skip):
    torch.manual_seed(0)
    up = TransitionUp(6, 4).eval()
    x = torch.randn(1, 6, *size)
    with torch.no_grad():
        assert torch.equal(SlicingTransitionUp(up)(x, skip), up(x, skip))


def test_int8_export_agrees_with_float32(tiny_model, camvid_root, tmp_path):
    import openvino as ov

    from segnet.checkpoints.exported import load_exported
    from segnet.data.camvid import find_pairs
    from segnet.data.images import read_image
    from segnet.deploy.export import export_openvino
    from segnet.deploy.loading import load_predictor

    ckpt = model_fields(badly_scaled(tiny_model), "fc_densenet", tiny_model.options,
                        normalization=tiny_model.normalization)
    export_openvino(ckpt, tmp_path / "fp32.xml")
    export_openvino(ckpt, tmp_path / "int8.xml", int8=True, calibration_frames=4, data_root=camvid_root)
    ops = {op.get_type_name() for op in ov.Core().read_model(str(tmp_path / "int8.xml")).get_ordered_ops()}
    assert "FakeQuantize" in ops and "Pad" not in ops  # quantized; the crops are slices, not negative pads
    frames = [read_image(pair[0]) for pair in find_pairs(camvid_root, "val")[::50]]  # never calibrated on
    labels = {name: load_predictor(load_exported(tmp_path / name), name, amp="off").predict(frames)
              for name in ("fp32.xml", "int8.xml")}
    agree = (labels["int8.xml"] == labels["fp32.xml"]).mean()
    # Measured: 90 %; plain NNCF on the unprepared graph: 13 % (random weights leave the tiny
    # model's logits closer to ties than a trained model's: the bundled model agrees on 97 %).
    assert agree >= 0.85, f"INT8 labels agree with float32 on {agree:.1%} of pixels"
