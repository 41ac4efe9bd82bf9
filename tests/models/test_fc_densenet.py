import pytest
import torch

from segnet.models import create_model

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


def trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name, millions", [("fc_densenet56", 1.38), ("fc_densenet67", 3.46), ("fc_densenet103", 9.32)])
def test_parameter_counts_match_the_paper(name, millions):
    assert trainable(create_model(name, 11)) / 1e6 == pytest.approx(millions, rel=0.02)


@pytest.mark.parametrize("name, millions",
                         [("fc_densenet56", 1.398), ("fc_densenet67", 3.503), ("fc_densenet103", 9.425)])
def test_lasagne_style_counts_with_bn_statistics_explain_the_papers(name, millions):
    """Lasagne's count_params includes BN running mean/var: the paper's 9.4 M and 3.5 M (56: 1.5 M is not)."""
    model = create_model(name, 11)
    statistics = sum(b.numel() for key, b in model.named_buffers() if "running" in key)
    assert (trainable(model) + statistics) / 1e6 == pytest.approx(millions, abs=0.0005)


@pytest.mark.parametrize("size", [(33, 65), (97, 131), (32, 32), (17, 9)])
def test_any_input_size_gives_logits_of_that_size(size):
    model = create_model("fc_densenet", 11, **TINY).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 11, *size)


@pytest.mark.parametrize("name", ["fc_densenet56", "fc_densenet103"])
def test_real_size_models_at_odd_small_sizes(name):
    model = create_model(name, 11).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 33, 65)).shape == (1, 11, 33, 65)


def test_in_channels_and_backward():
    model = create_model("fc_densenet", 4, in_channels=1, dropout=0.0, **TINY)
    out = model(torch.randn(2, 1, 20, 24))
    assert out.shape == (2, 4, 20, 24)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
