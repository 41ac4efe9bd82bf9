"""Log-DenseNet connections (Hu et al., "Log-DenseNet", Eq. 2), shared by FC-Log-DenseNet,
the Log-DenseNet V2 backbone and the growth benchmark."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from segnet.models.blocks import DenseLayer


def log_inputs(i: int, extra: Iterable[int] = ()) -> list[int]:
    """Layers x_i reads: i-1, i-2, i-4, ... (every i - 2^k >= 0), then ``extra`` earlier ones."""
    inputs, step = [], 1
    while i - step >= 0:
        inputs.append(i - step)
        step *= 2
    inputs += [j for j in extra if j < i and j not in inputs]
    return inputs


class LogDenseBlock(nn.Module):
    """One resolution of Log-DenseNet: layer i (1..n) concatenates x_{i-2^k}; x_0 is the input.

    ``always_input``: V2's compressed features (x_0) are read by every layer, so any two
    layers of different blocks are at most n_block apart during backpropagation.
    Returns ``[x_0, x_1, ..., x_n]`` like ``DenseBlock``.
    """

    def __init__(
        self,
        in_channels: int,
        num_layers: int,
        growth_rate: int,
        dropout: float = 0.0,
        bottleneck_width: int | None = None,
        memory_efficient: bool = False,
        always_input: bool = False,
    ) -> None:
        super().__init__()
        extra = (0,) if always_input else ()
        self.inputs = [log_inputs(i, extra) for i in range(1, num_layers + 1)]
        channels = lambda js: sum(in_channels if j == 0 else growth_rate for j in js)  # noqa: E731
        self.layers = nn.ModuleList(
            DenseLayer(channels(js), growth_rate, dropout, bottleneck_width, memory_efficient) for js in self.inputs
        )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        for layer, js in zip(self.layers, self.inputs):
            features.append(layer([features[j] for j in js]))
        return features
