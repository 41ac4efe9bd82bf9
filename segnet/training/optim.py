"""Optimizer and lr schedule of the paper recipe.

Weight decay follows the official FC-DenseNet (Lasagne) code: ``weight_decay * sum(w**2)`` is
added to the loss for convolution weights only (no BN parameters, no biases). Its gradient,
``2 * weight_decay * w``, is exactly what torch's ``weight_decay`` option adds to the gradient
of a parameter group before the RMSprop update, so conv weights get a group with
``weight_decay = 2 * weight_decay`` and every other parameter a group without.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            is_conv_weight = isinstance(module, nn.modules.conv._ConvNd) and name == "weight"
            (decay if is_conv_weight else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": 2.0 * weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def make_optimizer(model: nn.Module, optim_cfg, lr: float) -> torch.optim.Optimizer:
    groups = param_groups(model, optim_cfg.weight_decay)
    if optim_cfg.name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=optim_cfg.alpha, eps=optim_cfg.eps, momentum=optim_cfg.momentum)
    if optim_cfg.name == "adam":
        return torch.optim.Adam(groups, lr=lr, eps=optim_cfg.eps)
    return torch.optim.SGD(groups, lr=lr, momentum=optim_cfg.momentum)


def lr_factor(epoch: int, schedule: str, epochs: int, warmup: int, lr_decay: float) -> float:
    """The multiplier of the stage's lr in (0-based) ``epoch``: a linear warm-up over ``warmup``
    epochs, then x ``lr_decay`` per epoch, or cosine / poly (power 0.9) towards 0 at ``epochs``."""
    if epoch < warmup:
        return (epoch + 1) / (warmup + 1)
    if schedule == "exponential":
        return lr_decay ** (epoch - warmup)
    progress = min((epoch - warmup) / max(epochs - warmup, 1), 1.0)
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return (1 - progress) ** 0.9


def make_scheduler(optimizer: torch.optim.Optimizer, stage_cfg):
    """The stage's lr schedule, stepped after every epoch (the paper's: x 0.995)."""
    s = stage_cfg
    if s.schedule == "exponential" and s.warmup_epochs == 0 and s.start_epoch == 1:  # what older checkpoints hold
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=s.lr_decay)

    def factor(epoch: int) -> float:  # a plain function: the checkpoint keeps only the epoch count
        return lr_factor(epoch + s.start_epoch - 1, s.schedule, s.epochs, s.warmup_epochs, s.lr_decay)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
