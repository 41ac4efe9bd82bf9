"""The official weight initialisation of FC-DenseNet and FC-Log-DenseNet.

Both official codebases draw every convolution, transposed convolution and classifier
weight with He's variance sqrt(2 / fan_in) and start biases at zero; BatchNorm starts at
gamma 1, beta 0 in all three frameworks. They differ only in the distribution:

- FC-DenseNet (Lasagne, SimJeg/FC-DenseNet layers.py:14,39,54): ``HeUniform(gain='relu')``,
  i.e. ``kaiming_uniform_(nonlinearity="relu")``.
- FC-Log-DenseNet (tensorpack, EchoWho/AnytimeNeuralNetwork_public
  tensorpack/models/conv2d.py:33,151): ``variance_scaling_initializer(2.0)``, a normal
  truncated at 2 sigma whose sigma sqrt(1.3 * 2 / fan_in) makes the result's std
  sqrt(2 / fan_in).

PyTorch's own default (``kaiming_uniform_(a=sqrt(5))``) has std sqrt(1 / (3 fan_in)):
2.45x smaller. For transposed convolutions all three count fan_in as out_channels * k * k
(Lasagne's and PyTorch's weight layout is (in, out, k, k), TensorFlow's (k, k, out, in)).
"""

from __future__ import annotations

import math

import torch.nn as nn

INIT_CHOICES = ("official", "pytorch")


def he_init(model: nn.Module, distribution: str = "uniform") -> nn.Module:
    """He (ReLU gain) weights and zero biases on every (transposed) convolution of ``model``.

    ``distribution``: "uniform" (Lasagne's HeUniform) or "truncated_normal" (tensorpack's).
    """
    for module in model.modules():
        if not isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            continue
        if distribution == "uniform":
            nn.init.kaiming_uniform_(module.weight, nonlinearity="relu")
        elif distribution == "truncated_normal":
            fan_in = module.weight[0].numel()  # dims 1.. : PyTorch's own fan_in for both kinds
            std = math.sqrt(1.3 * 2.0 / fan_in)
            nn.init.trunc_normal_(module.weight, std=std, a=-2 * std, b=2 * std)
        else:
            raise ValueError(f"unknown distribution '{distribution}'")
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    return model
