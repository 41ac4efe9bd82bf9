"""The official initialisation: He (ReLU gain) weights, zero biases, std sqrt(2 / fan_in)."""

import math

import pytest
import torch
import torch.nn as nn

from segnet.errors import SegnetError
from segnet.models import create_model
from segnet.models.init import he_init

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


def convs(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def he_ratios(model, min_fan_in=0):
    """Measured std / sqrt(2 / fan_in) per conv; fan_in = dims 1.. (PyTorch's, Lasagne's, TF's)."""
    return [m.weight.std().item() / math.sqrt(2.0 / m.weight[0].numel()) for m in convs(model)
            if m.weight[0].numel() >= min_fan_in and m.weight.numel() >= 2000]


def test_fresh_fc_densenet103_has_the_he_uniform_std_and_zero_biases():
    torch.manual_seed(0)
    model = create_model("fc_densenet103", 11)
    ratios = he_ratios(model)
    assert len(ratios) > 100  # every dense layer, transition, transposed conv
    assert all(r == pytest.approx(1.0, abs=0.05) for r in ratios), min(ratios)
    assert all((m.bias == 0).all() for m in convs(model) if m.bias is not None)
    # the classifier and the transposed convs too (the Lasagne code's W=HeUniform(gain='relu'))
    for m in [model.classifier, model.transitions_up[0].conv]:
        bound = math.sqrt(6.0 / m.weight[0].numel())
        assert m.weight.abs().max().item() <= bound and m.weight.abs().max().item() > 0.9 * bound


def test_pytorch_default_init_is_kept_on_request_and_is_2_45x_smaller():
    torch.manual_seed(0)
    ratios = he_ratios(create_model("fc_densenet103", 11, init="pytorch"))
    assert sum(ratios) / len(ratios) == pytest.approx(1 / math.sqrt(6), rel=0.05)  # 1 / 2.45


def test_fc_log_densenet103_truncated_normal_has_the_he_std():
    torch.manual_seed(0)
    model = create_model("fc_log_densenet103", 11)
    ratios = he_ratios(model)
    assert all(r == pytest.approx(1.0, abs=0.05) for r in ratios), (min(ratios), max(ratios))
    conv = model.layers[-1].first[2]
    bound = 2 * math.sqrt(1.3 * 2.0 / conv.weight[0].numel())
    assert conv.weight.abs().max().item() <= bound + 1e-6  # truncated at 2 sigma


def test_he_init_rejects_an_unknown_distribution_and_options_are_checked():
    with pytest.raises(ValueError):
        he_init(nn.Conv2d(2, 2, 1), "cauchy")
    with pytest.raises(SegnetError, match="init='lasagne'"):
        create_model("fc_densenet", 11, init="lasagne", **TINY)
