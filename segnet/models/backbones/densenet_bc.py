"""DenseNet-BC (Huang et al., 2017): bottleneck layers (BN-ReLU-1x1 conv (4k)-BN-ReLU-3x3
conv (k)) and compression 0.5 in the transitions; built from the shared dense blocks."""

from __future__ import annotations

import torch.nn as nn

from segnet.models.backbones._base import Backbone, BackboneEncoder, encoder_entry, stem
from segnet.models.blocks import Concatenated, DenseBlock, TransitionDown


class DenseNetBC(Backbone):
    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bottleneck_width: int = 4,
        compression: float = 0.5,
        memory_efficient: bool = False,
        num_classes: int = 1000,
    ) -> None:
        channels = num_init_features
        stages = [stem(3, channels)]
        for b, n in enumerate(block_config):
            if b == 0:
                entry = nn.MaxPool2d(3, stride=2, padding=1)
            else:
                entry = TransitionDown(channels, int(channels * compression), pool="avg", bias=False)
                channels = int(channels * compression)
            block = DenseBlock(channels, n, growth_rate, 0.0, bottleneck_width, memory_efficient)
            channels = block.out_channels
            stages.append(nn.Sequential(entry, Concatenated(block)))
        # DenseNet ends with BN -> ReLU before pooling (pre-activation layers leave it raw).
        stages[-1].extend([nn.BatchNorm2d(channels), nn.ReLU(inplace=True)])
        super().__init__(stages, channels, num_classes)


def densenet_bc121(num_classes: int = 1000, **options) -> DenseNetBC:
    return DenseNetBC(32, (6, 12, 24, 16), 64, num_classes=num_classes, **options)


class DenseNetBCEncoder(BackboneEncoder, DenseNetBC):
    dilatable = False  # average-pooling transitions, as smp's DenseNet encoders


densenet_bc_encoders = {
    "densenet_bc121": encoder_entry(
        DenseNetBCEncoder, [3, 64, 256, 512, 1024, 1024], growth_rate=32, block_config=(6, 12, 24, 16)
    ),
}
