"""FC-Log-DenseNet (Hu et al., "Log-DenseNet", sec. 4.2): FC-DenseNet-103's 11 blocks with
Log-DenseNet V1 connections instead of dense ones.

Built as the authors' code builds it (EchoWho/AnytimeNeuralNetwork_public, run by
scripts/run-fcdense.sh; file:line for each point in docs/results/models.md):
- Layers are indexed globally: x_0 is the initial 3x3 conv (72 channels, ``-c=72
  --use_init_ch``), then x_1 ... x_91 through the blocks 4,5,7,10,12 | 15 | 12,10,7,5,4.
  Layer i reads x_{i-1}, x_{i-2}, x_{i-4}, ... (``--log_dense_coef=2.0``) and, after the
  first block, x_4 (``--early_connect_type=1``: the end of the first block).
- A layer is BN -> ReLU -> 3x3 conv (growth 24) -> Dropout on its concatenated inputs. The
  code runs with dropout off (keep probability 1.0); the paper's 0.2 is ``dropout=0.2``.
- No convolution has a bias (tensorpack's ``use_bias`` defaults to False there) except the
  1x1 prediction heads, which also read ReLU(features) (anytime_network.py's
  ``tf.nn.relu(l_feats[0])``) and start, like every conv, from He-scaled truncated normal
  weights (``init="pytorch"`` keeps PyTorch's defaults).
- Transitions are per earlier layer and only where a later layer needs it. Down: BN -> ReLU
  -> 1x1 conv with as many outputs as inputs -> 2x2 average pool, chained one level at a
  time. Up: BN -> ReLU -> 3x3 stride-2 transposed conv (channels kept) per level; a layer
  that already has a version at that level (made there, or pooled down to it on the way
  down: the code's skip lists) reuses it. The code's 'same' deconvolution is bilinearly
  resized to the skip's size; ours is cropped to it, as in FC-DenseNet (same parameters).
- Every prediction (the final 1x1 classifier and the deep-supervision heads at the end of
  every block but the last, ``--weights_at_block_ends``) reads x_i along with x_i's inputs, where
  x_i is the block's last layer. Deep supervision is on by default, as in the code.
- Versions are kept until the forward ends (simple; autograd keeps most of them anyway).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from segnet.models.blocks import DenseLayer, TransitionDown, TransitionUp
from segnet.models.deep_supervision import with_aux
from segnet.models.init import he_init
from segnet.models.log_dense import log_inputs
from segnet.models.registry import register_model


class FCLogDenseNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 11,
        growth_rate: int = 24,
        down_layers: tuple[int, ...] = (4, 5, 7, 10, 12),
        bottleneck_layers: int = 15,
        first_channels: int = 72,
        dropout: float = 0.0,
        in_channels: int = 3,
        deep_supervision: bool = True,
        memory_efficient: bool = False,
        init: str = "official",
    ) -> None:
        super().__init__()
        down = list(down_layers)  # the up path mirrors it
        blocks = down + [bottleneck_layers] + down[::-1]
        block_levels = list(range(len(down) + 1)) + list(range(len(down) - 1, -1, -1))
        self.level = [0]  # level = number of 2x poolings; x_0 at level 0
        self.block_ends = []
        for n, level in zip(blocks, block_levels):
            self.level += [level] * n
            self.block_ends.append(len(self.level) - 1)
        skip = self.block_ends[0]  # x_4 in FC-Log-DenseNet-103
        num_layers = len(self.level) - 1
        self.inputs = [[]] + [log_inputs(i, (skip,) if i > skip else ()) for i in range(1, num_layers + 1)]
        self.channels = [first_channels] + [growth_rate] * num_layers

        self.first_conv = nn.Conv2d(in_channels, first_channels, 3, padding=1, bias=False)
        self.layers = nn.ModuleList(
            DenseLayer(sum(self.channels[j] for j in self.inputs[i]), growth_rate, dropout, None, memory_efficient,
                       bias=False)
            for i in range(1, num_layers + 1)
        )
        head_ends = self.block_ends if deep_supervision else self.block_ends[-1:]
        heads = nn.ModuleList(nn.Conv2d(sum(self.channels[j] for j in self._head_inputs(e)), num_classes, 1)
                              for e in head_ends)
        self.classifier = heads[-1]
        self.aux_heads = heads[:-1] if deep_supervision else None

        # One transition module per (layer, level) version that some later read needs.
        self.transitions_down, self.transitions_up = nn.ModuleDict(), nn.ModuleDict()
        reads = [(j, self.level[i]) for i in range(1, num_layers + 1) for j in self.inputs[i]]
        reads += [(j, self.level[e]) for e in head_ends for j in self._head_inputs(e)]
        for j, level in reads:
            own = self.level[j]
            for m in range(own + 1, level + 1):
                key = f"{j}_{m}"
                if key not in self.transitions_down:
                    self.transitions_down[key] = TransitionDown(self.channels[j], pool="avg", bias=False)
            for m in range(own - 1, level - 1, -1):
                key = f"{j}_{m}"
                if key not in self.transitions_up:
                    self.transitions_up[key] = TransitionUp(self.channels[j], self.channels[j], True, bias=False)
        if init == "official":
            he_init(self, "truncated_normal")

    def _head_inputs(self, e: int) -> list[int]:
        return [e] + self.inputs[e]

    def input_rule(self) -> tuple[int, int]:
        """(multiple, minimum side): every level's transitions resize to the size they meet."""
        return 1, 2 ** max(self.level)

    def forward(self, x: torch.Tensor):
        aux = self.aux_heads is not None and self.training
        sizes = [x.shape[-2:]]
        for _ in range(max(self.level)):
            sizes.append(torch.Size([sizes[-1][0] // 2, sizes[-1][1] // 2]))  # pooling floors
        versions: dict[tuple[int, int], torch.Tensor] = {(0, 0): self.first_conv(x)}
        for i, layer in enumerate(self.layers, start=1):
            versions[i, self.level[i]] = layer([self._at_level(versions, sizes, j, self.level[i])
                                                for j in self.inputs[i]])
        logits = self.classifier(self._head_input(versions, sizes, self.block_ends[-1]))
        if not aux:
            return logits
        return with_aux(logits, self.aux_heads, [self._head_input(versions, sizes, e) for e in self.block_ends[:-1]])

    # Methods, not closures over ``versions``: a recursive closure refers to itself, and that
    # cycle kept every step's activations alive until the garbage collector came by (a 2-GiB
    # step grew a training process to 17.7 GiB). Not named ``_version``: nn.Module keeps its state_dict
    # format number there, and a method in its place put itself into every checkpoint.
    def _at_level(self, versions: dict, sizes: list, j: int, level: int) -> torch.Tensor:
        """Layer j's output at ``level``, resized through the transitions (each computed once)."""
        if (j, level) not in versions:
            if level > self.level[j]:
                finer = self._at_level(versions, sizes, j, level - 1)
                versions[j, level] = self.transitions_down[f"{j}_{level}"](finer)
            else:
                coarser = self._at_level(versions, sizes, j, level + 1)
                versions[j, level] = self.transitions_up[f"{j}_{level}"](coarser, sizes[level])
        return versions[j, level]

    def _head_input(self, versions: dict, sizes: list, e: int) -> torch.Tensor:
        return F.relu(torch.cat([self._at_level(versions, sizes, j, self.level[e]) for j in self._head_inputs(e)], 1))


register_model(FCLogDenseNet, "fc_log_densenet")


@register_model
def fc_log_densenet103(
    num_classes: int = 11,
    dropout: float = 0.0,
    in_channels: int = 3,
    deep_supervision: bool = True,
    memory_efficient: bool = False,
    init: str = "official",
) -> FCLogDenseNet:
    """FC-Log-DenseNet-103: growth 24, first conv 72, blocks 4,5,7,10,12 | 15 | 12,10,7,5,4.

    4.057 M trainable parameters, as the official graph (the paper's 4.7 M: see
    docs/results/models.md).
    """
    return FCLogDenseNet(
        num_classes, 24, (4, 5, 7, 10, 12), 15, 72, dropout, in_channels, deep_supervision, memory_efficient, init
    )

