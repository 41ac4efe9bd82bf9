"""Frames of any camera reach the network at the scale it learnt (Predictor rescale).

A checkpoint records ``frame_size``, the training frames' size as the network saw them; "frame"
brings every frame to that many pixels (aspect ratio kept), "factor" applies input_scale alone.
"""

import math

import numpy as np
import pytest
import torch

import segnet
import segnet.inference.preprocess as preprocess_module
from segnet.checkpoints.checkpoint import load_checkpoint, model_fields, save_checkpoint
from segnet.checkpoints.model_card import ModelCard, rescale_mode
from segnet.deploy.loading import load_predictor
from segnet.errors import SegnetError
from segnet.inference.preprocess import network_scale
from segnet.models import create_model

TINY = dict(growth_rate=2, down_layers=[1, 1], bottleneck_layers=1, first_channels=4)
CARD = ModelCard("fc_densenet", input_scale=0.5, frame_size=(180, 240))


def _fields(frame_size=(18, 24), input_scale=0.5) -> dict:
    torch.manual_seed(0)
    model = create_model("fc_densenet", 11, **TINY)
    return model_fields(model, "fc_densenet", TINY, input_scale=input_scale, frame_size=frame_size)


def test_frames_of_the_training_size_get_exactly_the_training_factor():
    assert network_scale(CARD, 360, 480) == 0.5
    assert network_scale(CARD, 361, 481) == 0.5  # floor(361 * 0.5) = 180: what training made of it
    assert network_scale(CARD, 720, 960) == 0.25  # twice the resolution: the same street in 180x240
    assert math.isclose(network_scale(CARD, 1080, 1920), math.sqrt(180 * 240 / (1080 * 1920)))
    assert network_scale(CARD, 90, 120) == 2.0  # a small camera is brought up to the learnt scale
    assert network_scale(CARD, 1080, 1920, "factor") == 0.5
    assert network_scale(ModelCard("fc_densenet", input_scale=0.5), 1080, 1920) == 0.5  # no frame_size known


def test_rescale_modes_resolve_against_the_card():
    old = ModelCard("fc_densenet", input_scale=0.5)
    assert rescale_mode("auto", CARD) == "frame" and rescale_mode("auto", old) == "factor"
    assert rescale_mode("factor", CARD) == "factor"
    with pytest.raises(SegnetError, match="old.pt does not record its training frame size"):
        rescale_mode("frame", old, "old.pt")
    with pytest.raises(SegnetError, match="unknown rescale 'big'"):
        rescale_mode("big", CARD)


@pytest.mark.parametrize("bad", ["tall", "12", [0, 5], [1.5, 2], [1, 2, 3], [float("inf"), 1], {"h": 1}])
def test_a_malformed_frame_size_names_the_checkpoint(bad):
    with pytest.raises(SegnetError, match="m.pt: .*'frame_size'"):
        ModelCard.from_checkpoint({**_fields(), "frame_size": bad}, "m.pt")


def test_frame_size_round_trips_through_a_checkpoint_file(tmp_path):
    save_checkpoint(tmp_path / "m.pt", _fields((18, 24)))
    card = ModelCard.from_checkpoint(load_checkpoint(tmp_path / "m.pt"))
    assert card.frame_size == (18, 24) and card.to_checkpoint()["frame_size"] == [18, 24]
    assert "frame_size" not in ModelCard("fc_densenet").to_checkpoint()  # old cards stay as they were


def _network_sizes(monkeypatch) -> list:
    """Records the (height, width) every scale_input call hands to the network."""
    seen, original = [], preprocess_module.scale_input

    def spy(batch, factor):
        out = original(batch, factor)
        seen.append(tuple(out.shape[-2:]))
        return out

    monkeypatch.setattr(preprocess_module, "scale_input", spy)
    return seen


@pytest.mark.parametrize("size, expected", [((36, 48), (18, 24)), ((72, 96), (18, 24)), ((108, 192), (15, 27)),
                                            ((240, 135), (27, 15)), ((12, 16), (18, 24))])
def test_any_camera_reaches_the_network_with_a_training_frames_pixels(monkeypatch, size, expected):
    seen = _network_sizes(monkeypatch)
    predictor = load_predictor(_fields((18, 24)), device="cpu", amp="off", backend="torch")
    image = np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)
    labels = predictor.predict([image])
    assert labels.shape == (1, *size) and seen == [expected]


def test_factor_mode_and_old_checkpoints_keep_the_training_factor(monkeypatch):
    seen = _network_sizes(monkeypatch)
    image = np.zeros((72, 96, 3), np.uint8)
    load_predictor(_fields((18, 24)), device="cpu", amp="off", backend="torch", rescale="factor").predict([image])
    load_predictor(_fields(None), device="cpu", amp="off", backend="torch").predict([image])
    assert seen == [(36, 48), (36, 48)]


def test_tiles_are_scaled_by_their_frames_factor_not_their_own_size(monkeypatch):
    seen = _network_sizes(monkeypatch)
    predictor = load_predictor(_fields((18, 24)), device="cpu", amp="off", backend="torch", tiles=True, tile=16)
    image = np.random.default_rng(1).integers(0, 256, (144, 192, 3), dtype=np.uint8)  # factor 0.125
    assert predictor.predict([image]).shape == (1, 144, 192)
    assert len(seen) > 1 and set(seen) == {(16, 16)}  # 128-pixel tiles, each at 1/8


def test_the_api_takes_rescale_and_refuses_a_wrong_one(tmp_path):
    save_checkpoint(tmp_path / "m.pt", _fields((18, 24)))
    frame = np.zeros((72, 96, 3), np.uint8)
    assert segnet.load_model(tmp_path / "m.pt", device="cpu", backend="torch",
                             rescale="factor").predict(frame).shape == (72, 96)
    with pytest.raises(SegnetError, match="unknown rescale"):
        segnet.load_model(tmp_path / "m.pt", rescale="huge")


def test_the_bundled_model_records_camvid_at_half_resolution():
    card = segnet.load_model().card
    assert card.input_scale == 0.5 and card.frame_size == (180, 240)
