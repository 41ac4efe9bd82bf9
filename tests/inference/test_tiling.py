"""Frames of any size: tiny frames padded and cropped back, large frames in overlapping tiles."""

import numpy as np
import pytest
import torch

from segnet.checkpoints.checkpoint import model_fields
from segnet.deploy.loading import load_predictor
from segnet.inference.preprocess import pad_to
from segnet.inference.tiling import predict_tiled, window_starts
from segnet.models import create_model
from segnet.models import input_rule as size_rule

# Five poolings, as FC-DenseNet56/67/103: sides under 32 pixels used to crash
FIVE_LEVELS = dict(growth_rate=2, down_layers=[1, 1, 1, 1, 1], bottleneck_layers=1, first_channels=4)


def _predictor(input_scale: float = 1.0, **options):
    torch.manual_seed(0)
    model = create_model("fc_densenet", 11, **FIVE_LEVELS)
    fields = model_fields(model, "fc_densenet", FIVE_LEVELS)
    fields["input_scale"] = input_scale
    return load_predictor(fields, device="cpu", amp="off", **options)


@pytest.mark.parametrize("input_scale", [1.0, 0.5])
@pytest.mark.parametrize("size", [(1, 1), (2, 3), (37, 53), (63, 63), (30, 40)])
def test_any_size_gives_labels_of_its_own_size(size, input_scale):
    predictor = _predictor(input_scale)
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    labels = predictor.predict([image, image])
    assert labels.shape == (2, *size) and labels.dtype == np.uint8
    assert predictor.logits(predictor.to_tensor([image])).shape == (1, 11, *size)


def test_padding_does_not_touch_frames_the_network_takes():
    predictor = _predictor()
    image = np.random.default_rng(1).integers(0, 256, (70, 90, 3), dtype=np.uint8)
    x = predictor.to_tensor([image])
    with torch.no_grad():
        expected = predictor.model.model(x) if hasattr(predictor.model, "model") else predictor.model(x)
    assert torch.allclose(predictor.logits(x), expected, atol=1e-5)


def test_size_rules_and_padding():
    assert size_rule(create_model("fc_densenet", 11, **FIVE_LEVELS)) == (1, 32)
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = pad_to(x, 1, 32)
    assert padded.shape == (1, 1, 32, 32)
    assert torch.equal(padded[..., :2, :3], x) and torch.all(padded[..., 2:, :3] == x[..., 1:, :])  # border repeated
    assert pad_to(torch.zeros(1, 3, 40, 70), 32, 32).shape == (1, 3, 64, 96)
    assert pad_to(torch.zeros(1, 3, 64, 96), 32, 32).shape == (1, 3, 64, 96)


def test_windows_cover_the_frame_with_the_last_flush_to_the_edge():
    assert window_starts(100, 100, 60) == [0]
    assert window_starts(50, 100, 60) == [0]
    starts = window_starts(1000, 300, 200)
    assert starts == [0, 200, 400, 600, 700]
    assert window_starts(301, 300, 200) == [0, 1]


def test_tiles_of_a_local_model_equal_the_whole_frame():
    """With logits that depend on each pixel alone, overlapping tiles must give exactly the
    whole-frame labels: any bookkeeping error in the band shows up."""
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (157, 211, 3), dtype=np.uint8)
    weights = torch.from_numpy(rng.normal(size=(5, 3))).float()

    def logits(crop: np.ndarray) -> torch.Tensor:
        return torch.einsum("kc,hwc->khw", weights, torch.from_numpy(crop).float())

    expected = logits(image).argmax(0).numpy()
    for tile, stride in [((64, 64), (40, 40)), ((50, 300), (17, 300)), ((157, 211), (100, 100)), ((1, 1), (1, 1))]:
        assert np.array_equal(predict_tiled(image, logits, tile, stride), expected), tile


def test_predictor_tiles_large_frames_and_matches_whole_frames_when_a_tile_covers_them():
    image = np.random.default_rng(3).integers(0, 256, (90, 130, 3), dtype=np.uint8)
    whole = _predictor(tiles=False).predict([image])
    assert np.array_equal(_predictor(tiles=True, tile=256).predict([image]), whole)
    tiled = _predictor(max_pixels=64 * 64, tile=64)  # auto: 90x130 > 64x64 -> tiles of 64
    assert tiled._tiled(90, 130) and not tiled._tiled(60, 60)
    assert tiled.predict([image]).shape == (1, 90, 130)
