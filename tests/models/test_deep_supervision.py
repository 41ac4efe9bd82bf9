import pytest
import torch
import torch.nn as nn

from segnet.errors import SegnetError
from segnet.models import create_model, deep_supervision_loss
from segnet.models.deep_supervision import head_weights, resize_target, sieve_weights, soft_target

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


def test_sieve_weights_are_the_codes():
    # anytime_loss.sieve_loss_weights(11) normalised "last": 2,1,4,1,2,1,3,1,2,1 : 18
    expected = [w / 18 for w in (2, 1, 4, 1, 2, 1, 3, 1, 2, 1, 18)]
    assert sieve_weights(11) == pytest.approx(expected)
    assert sieve_weights(1) == [1.0]
    assert sum(sieve_weights(6)[:-1]) == pytest.approx(1.0)  # the final weighs as much as the rest


def test_sieve_boosts_one_head_drawn_by_weight():
    gen = torch.Generator().manual_seed(0)
    base = sieve_weights(11)
    boosts = []
    for _ in range(3000):
        weights = head_weights(10, "sieve", generator=gen)
        diff = [w - b for w, b in zip(weights, base)]
        boosted = [i for i, d in enumerate(diff) if d > 0]
        assert len(boosted) == 1 and diff[boosted[0]] == pytest.approx(sum(base) / 2)
        boosts.append(boosted[0])
    share_final = boosts.count(10) / len(boosts)
    assert share_final == pytest.approx(0.5, abs=0.04)  # final: half the weight -> half the draws
    assert boosts.count(2) / len(boosts) == pytest.approx(4 / 36, abs=0.02)


def test_even_weighting_unchanged_and_bad_names():
    assert head_weights(4, "even", 0.5) == [0.125] * 4 + [0.5]
    with pytest.raises(SegnetError, match="weighting"):
        head_weights(4, "uneven")
    target = torch.zeros(1, 8, 8, dtype=torch.long)
    with pytest.raises(SegnetError, match="targets"):
        deep_supervision_loss(torch.zeros(1, 2, 8, 8), target, lambda x, t: x.mean(), aux_targets="bilinear")


def test_average_targets_are_pooled_one_hot_with_void_as_zero():
    target = torch.tensor([[[0, 1, 2, 2], [0, 0, 11, 2]]])  # 2x4, num_classes 3
    soft = soft_target(target, (1, 2), 3)
    assert soft.shape == (1, 3, 1, 2)
    torch.testing.assert_close(soft[0, :, 0, 0], torch.tensor([0.75, 0.25, 0.0]))
    torch.testing.assert_close(soft[0, :, 0, 1], torch.tensor([0.0, 0.0, 0.75]))  # a void quarter
    full = soft_target(target, (2, 4), 3)
    assert full[0, :, 1, 2].sum() == 0 and full[0, 2, 0, 3] == 1  # same size: one-hot, void zero


def test_average_targets_reach_every_head_as_probabilities():
    seen = []
    criterion = lambda logits, t: seen.append((t.dtype, tuple(t.shape))) or logits.mean()  # noqa: E731
    target = torch.zeros(2, 8, 8, dtype=torch.long)
    output = (torch.zeros(2, 3, 8, 8), [torch.zeros(2, 3, 4, 4)])
    deep_supervision_loss(output, target, criterion, aux_targets="average")
    assert seen == [(torch.float32, (2, 3, 4, 4)), (torch.float32, (2, 3, 8, 8))]
