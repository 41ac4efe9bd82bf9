import pytest
import torch
import torch.nn as nn

from segnet.errors import SegnetError
from segnet.models import create_model, deep_supervision_loss
from segnet.models.deep_supervision import resize_target

TINY = dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8)


def test_void_never_leaks_into_classes():
    # a void (11) border around class 3, with odd sizes so pixels straddle output cells
    target = torch.full((1, 33, 65), 11)
    target[:, 8:25, 16:49] = 3
    for size in [(16, 32), (8, 16), (4, 8)]:
        small = resize_target(target, size)
        assert small.dtype == target.dtype
        assert set(small.unique().tolist()) <= {3, 11}
    # nearest at output-pixel centres: halving samples source pixels 1, 3, 5, ...
    checker = torch.tensor([[0, 11], [11, 0]]).repeat(1, 4, 4)
    torch.testing.assert_close(resize_target(checker, (4, 4)), checker[:, 1::2, 1::2])


def test_weights_half_on_final_rest_spread():
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    criterion = lambda logits, t: logits.mean()  # noqa: E731  (each output's value is its loss)
    final = torch.full((1, 2, 8, 8), 1.0)
    aux = [torch.full((1, 2, 4, 4), 2.0), torch.full((1, 2, 8, 8), 4.0)]
    assert deep_supervision_loss((final, aux), target, criterion).item() == pytest.approx(0.5 + 0.25 * 2 + 0.25 * 4)
    assert deep_supervision_loss((final, aux), target, criterion, final_weight=1.0).item() == pytest.approx(1.0)
    assert deep_supervision_loss(final, target, criterion).item() == 1.0
    with pytest.raises(SegnetError, match="final_weight"):
        deep_supervision_loss((final, aux), target, criterion, final_weight=2.0)


def test_fc_densenet_heads_and_loss_backward():
    model = create_model("fc_densenet", 11, deep_supervision=True, **TINY)
    target = torch.randint(0, 12, (2, 33, 65))
    final, aux = model(torch.randn(2, 3, 33, 65))
    assert len(aux) == 4  # 2 down blocks, bottleneck, first up block (the last up block's head is the classifier)
    loss = deep_supervision_loss((final, aux), target, nn.CrossEntropyLoss(ignore_index=11))
    loss.backward()
    assert all(h.weight.grad is not None for h in model.aux_heads)
    model.eval()
    assert isinstance(model(torch.randn(1, 3, 33, 65)), torch.Tensor)


def test_fc_densenet_off_by_default():
    model = create_model("fc_densenet", 11, **TINY)
    assert isinstance(model(torch.randn(1, 3, 16, 16)), torch.Tensor)
