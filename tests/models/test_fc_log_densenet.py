import pytest
import torch
import torch.nn as nn

from segnet.models import create_model
from segnet.models.log_dense import log_inputs

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


def test_log_connections():
    assert log_inputs(1) == [0]
    assert log_inputs(7) == [6, 5, 3]
    assert log_inputs(8) == [7, 6, 4, 0]
    assert log_inputs(12, extra=(4,)) == [11, 10, 8, 4]  # x4 already there
    assert log_inputs(13, extra=(4,)) == [12, 11, 9, 5, 4]


def test_fc_log_densenet103_structure():
    model = create_model("fc_log_densenet103", 11)
    assert len(model.layers) == 91
    assert model.block_ends == [4, 9, 16, 26, 38, 53, 65, 75, 82, 87, 91]
    assert len(model.aux_heads) == 10  # every block but the last, whose head is the classifier
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert params == pytest.approx(4.057e6, rel=0.005)  # the official graph (paper: 4.7 M)
    statistics = sum(b.numel() for name, b in model.named_buffers() if "running" in name)
    assert (params + statistics) / 1e6 == pytest.approx(4.098, abs=0.001)


def test_fc_log_densenet103_is_built_as_its_code():
    model = create_model("fc_log_densenet103", 11)
    assert model.first_conv.out_channels == 72 and model.first_conv.bias is None
    heads = [model.classifier, *model.aux_heads]
    biased = [n for n, m in model.named_modules()
              if isinstance(m, nn.Conv2d | nn.ConvTranspose2d) and m.bias is not None]
    assert sorted(biased) == sorted(n for n, m in model.named_modules() if any(m is h for h in heads))
    up = next(iter(model.transitions_up.values()))
    assert isinstance(up.pre[0], nn.BatchNorm2d) and isinstance(up.pre[1], nn.ReLU)
    assert all(layer.drop.p == 0.0 for layer in model.layers)  # the code: keep probability 1.0
    assert all(layer.drop.p == 0.2 for layer in create_model("fc_log_densenet103", 11, dropout=0.2).layers)


def test_heads_read_relu_features():
    """A head sees ReLU(features): shifting its input's negative part changes nothing."""
    torch.manual_seed(0)
    model = create_model("fc_log_densenet", 11, deep_supervision=False, **TINY).eval()
    seen = []
    model.classifier.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    with torch.no_grad():
        model(torch.randn(1, 3, 16, 16))
    assert seen[0].min() >= 0 and (seen[0] == 0).any()


@pytest.mark.parametrize("size", [(33, 65), (17, 9), (32, 32)])
def test_any_input_size(size):
    model = create_model("fc_log_densenet", 11, **TINY).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, *size)).shape == (1, 11, *size)


def test_real_size_model_at_an_odd_small_size():
    model = create_model("fc_log_densenet103", 11).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 33, 65)).shape == (1, 11, 33, 65)


def test_deep_supervision_on_by_default_and_only_in_training():
    model = create_model("fc_log_densenet", 11, **TINY)
    final, aux = model(torch.randn(2, 3, 33, 65))
    assert final.shape == (2, 11, 33, 65)
    # blocks at levels 0, 1 | 2 | 1 (the level-0 block is the classifier)
    assert [a.shape[-2:] for a in aux] == [(33, 65), (16, 32), (8, 16), (16, 32)]
    model.eval()
    assert isinstance(model(torch.randn(1, 3, 33, 65)), torch.Tensor)
    off = create_model("fc_log_densenet", 11, deep_supervision=False, **TINY)
    assert isinstance(off(torch.randn(1, 3, 16, 16)), torch.Tensor)
