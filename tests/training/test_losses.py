"""The criterion: void ignored, label smoothing, the Log-DenseNet code's soft-target loss."""

import pytest
import torch
import torch.nn.functional as F

from segnet.config.load import load_config
from segnet.errors import SegnetError
from segnet.models.deep_supervision import soft_target
from segnet.training.losses import make_criterion, training_loss


def batch(seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 11, 6, 5, generator=gen)
    target = torch.randint(0, 12, (2, 6, 5), generator=gen)  # 11 = void
    return logits, target


def test_label_smoothing_mixes_uniform_targets_and_ignores_void():
    logits, target = batch()
    eps = 0.1
    logp = F.log_softmax(logits, 1).permute(0, 2, 3, 1)[target != 11]  # [pixels, C]
    labels = target[target != 11]
    expected = ((1 - eps) * -logp[torch.arange(len(labels)), labels] + eps * -logp.mean(1)).mean()
    assert make_criterion(label_smoothing=eps)(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    assert make_criterion()(logits, target).item() != pytest.approx(expected.item(), rel=1e-3)


def test_soft_targets_at_full_size_equal_hard_labels_and_smooth_the_same_way():
    logits, target = batch(1)
    soft = soft_target(target, target.shape[-2:], 11)
    for eps in (0.0, 0.2):
        criterion = make_criterion(label_smoothing=eps)
        assert criterion(logits, soft).item() == pytest.approx(criterion(logits, target).item(), rel=1e-5)


def test_weighted_soft_loss_is_normalised_by_pixel_count_as_the_code():
    logits, target = batch(2)
    weights = torch.linspace(0.5, 3.0, 11)
    soft = soft_target(target, target.shape[-2:], 11)
    keep = target != 11
    nll = F.cross_entropy(logits, target.clamp(max=10), reduction="none")
    expected = (weights[target.clamp(max=10)] * nll)[keep].sum() / keep.sum()  # anytime_fcn.py:246-249
    assert make_criterion(weights)(logits, soft).item() == pytest.approx(expected.item(), rel=1e-5)


def test_training_loss_with_sieve_and_average_targets_backpropagates():
    logits, target = batch(3)
    final = logits.clone().requires_grad_()
    aux = [torch.randn(2, 11, 3, 2, requires_grad=True)]
    loss = training_loss((final, aux), target, make_criterion(), weighting="sieve", aux_targets="average")
    loss.backward()
    assert torch.isfinite(loss) and final.grad is not None and aux[0].grad.abs().sum() > 0


@pytest.mark.parametrize("override, key", [("loss.label_smoothing=1.0", "label_smoothing"),
                                           ("loss.aux_weighting=uneven", "aux_weighting"),
                                           ("loss.aux_targets=bilinear", "aux_targets"),
                                           ("loss.class_weights=median", "class_weights")])
def test_bad_loss_options_are_config_errors(override, key):
    with pytest.raises(SegnetError, match=key):
        load_config("configs/fc_log_densenet103.yaml", [override])


@pytest.mark.parametrize("name", ["fc_densenet56", "fc_densenet67", "fc_densenet103"])
def test_fc_densenet_recipes_train_unweighted_as_the_official_code(name):
    cfg = load_config(f"configs/{name}.yaml")
    assert cfg.loss.class_weights == "none" and cfg.val_bn == "batch" and "init" not in cfg.model.options


def test_fc_log_densenet_recipe_uses_its_codes_loss():
    cfg = load_config("configs/fc_log_densenet103.yaml")
    assert (cfg.loss.class_weights, cfg.loss.aux_weighting, cfg.loss.aux_targets) == (
        "median_frequency_global", "sieve", "average")
    assert (cfg.finetune.lr, cfg.finetune.batch_size, cfg.val_bn) == (5e-5, 1, "running")


def test_quick_cpu_keeps_the_bundled_models_recipe():
    cfg = load_config("configs/quick_cpu.yaml")
    assert (cfg.loss.class_weights, cfg.model.options.init, cfg.val_bn) == ("median_frequency", "pytorch", "running")
