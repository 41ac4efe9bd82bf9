"""What every backbone is: a classification network in five stages (strides 2 to 32), and,
through ``BackboneEncoder``, an encoder under smp's contract (``encoders/_base.py``)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from segmentation_models_pytorch.encoders._base import EncoderMixin


class Backbone(nn.Module):
    """``stages[k]`` halves the resolution; global average pool -> linear classifier."""

    def __init__(self, stages: list[nn.Module], num_features: int, num_classes: int = 1000) -> None:
        super().__init__()
        self.stages = nn.ModuleList(stages)
        self.classifier = nn.Linear(num_features, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class BackboneEncoder(EncoderMixin):
    """Mixin (listed before the backbone class) giving a ``Backbone`` smp's encoder contract.

    forward -> [input, stage 1 (stride 2), ..., stage ``depth``]. ``dilatable``: networks
    that downsample with strided convs can trade them for dilation (output stride 16 / 8,
    as DeepLabV3+ needs); those that pool cannot, and say so like smp's DenseNet encoders.
    """

    _is_torch_scriptable = False  # stages pass lists of maps around
    dilatable = True

    def __init__(self, out_channels: list[int], depth: int = 5, output_stride: int = 32, **params) -> None:
        if not 1 <= depth <= 5:
            raise ValueError(f"{type(self).__name__} depth should be in range [1, 5], got {depth}")
        # Skip EncoderMixin.__init__ (its defaults are set below) and build the backbone.
        super(EncoderMixin, self).__init__(**params)
        self._depth, self._in_channels = depth, 3
        self._out_channels, self._output_stride = out_channels, output_stride
        del self.classifier

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        for stage in self.stages[: self._depth]:
            x = stage(x)
            features.append(x)
        return features

    def get_stages(self) -> dict[int, list[nn.Module]]:
        return {16: [self.stages[3]], 32: [self.stages[4]]}

    def make_dilated(self, output_stride: int) -> None:
        if not self.dilatable:
            raise ValueError(
                f"{type(self).__name__} does not support dilated mode (output_stride={output_stride}) "
                "because it downsamples by pooling; use an output-stride-32 architecture (Unet, FPN, ...)"
            )
        super().make_dilated(output_stride)


def encoder_entry(encoder: type, out_channels: list[int], **params) -> dict:
    """An entry of smp's ``encoders`` dict; no pretrained weights (trained from scratch)."""
    return {"encoder": encoder, "params": {"out_channels": out_channels, **params}, "pretrained_settings": {}}


def stem(in_channels: int, out_channels: int) -> nn.Sequential:
    """ResNet / DenseNet ImageNet stem: 7x7 stride-2 conv -> BN -> ReLU (stage 1)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 7, stride=2, padding=3, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )
