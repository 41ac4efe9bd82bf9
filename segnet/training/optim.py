"""Optimizer and lr schedule of the paper recipe.

Weight decay follows the official FC-DenseNet (Lasagne) code: ``weight_decay * sum(w**2)`` is
added to the loss for convolution weights only (no BN parameters, no biases). Its gradient,
``2 * weight_decay * w``, is exactly what torch's ``weight_decay`` option adds to the gradient
of a parameter group before the RMSprop update, so conv weights get a group with
``weight_decay = 2 * weight_decay`` and every other parameter a group without.
"""

from __future__ import annotations

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


def make_scheduler(optimizer: torch.optim.Optimizer, lr_decay: float):
    """lr * lr_decay after every epoch (0.995 in the paper)."""
    return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=lr_decay)
