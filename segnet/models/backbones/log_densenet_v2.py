"""Log-DenseNet V2 (Hu et al., "Log-DenseNet", sec. 3.3, "block compression").

- x_0 is the ImageNet stem (7x7 stride-2 conv with 2g channels, then 3x3 max-pool), the
  initial compressed block.
- In a block, layer i reads the compressed features of all earlier blocks (x_0 of the
  block) and x_{i-1}, x_{i-2}, x_{i-4}, ... of the block; every layer is a bottleneck
  (BN-ReLU-1x1 conv (4g)-BN-ReLU-3x3 conv (g)), as the paper's layers.
- ``BlockCompression`` between blocks: the finished block's layers, concatenated, are
  compressed to g * round(log2 L) channels by BN-ReLU-1x1 conv (L = all layers of the
  network); the older compressed features go through a channel-keeping BN-ReLU-1x1 conv;
  both are 2x2 average-pooled and concatenated into the next block's x_0. The paper's
  ordering "1x1conv-BN-ReLU" is written pre-activation here like every other transition.
- ``log_densenet_v2`` uses DenseNet-169's blocks 6,12,32,32 with g = 32, as the paper's
  ILSVRC "Log-DenseNet 169".
- A stage's output is x_0 and the block's layers concatenated (the compressed features
  first), so the encoder's features and the next stage see the same tensor.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from segnet.models.backbones._base import Backbone, BackboneEncoder, encoder_entry, stem
from segnet.models.blocks import Concatenated, TransitionDown
from segnet.models.log_dense import LogDenseBlock


class BlockCompression(nn.Module):
    def __init__(self, compressed_channels: int, block_channels: int, out_block_channels: int) -> None:
        super().__init__()
        self.compressed_channels = compressed_channels
        self.old = TransitionDown(compressed_channels, compressed_channels, pool="avg", bias=False)
        self.new = TransitionDown(block_channels, out_block_channels, pool="avg", bias=False)
        self.out_channels = compressed_channels + out_block_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        old, new = x.split([self.compressed_channels, x.shape[1] - self.compressed_channels], 1)
        return torch.cat([self.old(old), self.new(new)], 1)


class LogDenseNetV2(Backbone):
    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 32, 32),
        bottleneck_width: int = 4,
        memory_efficient: bool = False,
        num_classes: int = 1000,
    ) -> None:
        g = growth_rate
        compressed_block = g * round(math.log2(sum(block_config)))
        compressed = 2 * g
        stages = [stem(3, compressed)]
        for b, n in enumerate(block_config):
            if b == 0:
                entry = nn.MaxPool2d(3, stride=2, padding=1)
            else:
                entry = BlockCompression(compressed, block_config[b - 1] * g, compressed_block)
                compressed = entry.out_channels
            block = LogDenseBlock(compressed, n, g, 0.0, bottleneck_width, memory_efficient, always_input=True)
            stages.append(nn.Sequential(entry, Concatenated(block)))
        channels = compressed + block_config[-1] * g
        stages[-1].extend([nn.BatchNorm2d(channels), nn.ReLU(inplace=True)])
        super().__init__(stages, channels, num_classes)


def log_densenet_v2(num_classes: int = 1000, **options) -> LogDenseNetV2:
    return LogDenseNetV2(num_classes=num_classes, **options)


class LogDenseNetV2Encoder(BackboneEncoder, LogDenseNetV2):
    dilatable = False  # average-pooling transitions


log_densenet_v2_encoders = {
    "log_densenet_v2": encoder_entry(LogDenseNetV2Encoder, [3, 64, 256, 640, 1472, 1664], block_config=(6, 12, 32, 32)),
}
