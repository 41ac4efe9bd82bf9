"""Where a CPU training step of FC-DenseNet103 spends its time (docs/results/training.md).

    python tools/profile_train_step.py step --layout channels_last [--profile]   # segnet's step
    python tools/profile_train_step.py step --port                                # the plain port
    python tools/profile_train_step.py conv                                       # one dense-layer conv

``step``: batch 4 x 224 x 224, RMSprop, cross-entropy, float32, one warm-up step then two timed.
``conv``: a 3x3 convolution with 16 output channels at the sizes FC-DenseNet103 runs it, forward,
grad-input and grad-weight in GFLOP/s, NCHW and channels_last. ``--threads`` (default 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial

import torch
from torch import nn

from segnet.core.device import cpu_description


def step_time(args) -> None:
    from segnet.bench.tiramisu_port import tiramisu_port_103
    from segnet.models import create_model

    torch.manual_seed(0)
    model = tiramisu_port_103(11) if args.port else create_model("fc_densenet103", 11)
    channels_last = args.layout == "channels_last" and not args.port
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
    x = torch.randn(4, 3, 224, 224)
    y = torch.randint(0, 11, (4, 224, 224))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    loss_fn = nn.NLLLoss(ignore_index=11) if args.port else nn.CrossEntropyLoss(ignore_index=11)
    forward = torch.compile(model) if args.compile else model

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(forward(x), y).backward()
        optimizer.step()

    start = time.perf_counter()
    step()
    print(f"first step {time.perf_counter() - start:.1f} s")
    for _ in range(2):
        start = time.perf_counter()
        step()
        print(f"step {time.perf_counter() - start:.2f} s", flush=True)
    if args.profile:
        from torch.profiler import profile

        with profile() as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def _seconds(fn, repeats: int = 3) -> float:
    """Mean seconds of ``fn()`` over ``repeats`` calls after one warm-up call."""
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def conv_rates() -> None:
    for cin, hw in [(64, 224), (176, 112), (300, 56), (600, 14)]:
        for channels_last in (False, True):
            x = torch.randn(4, cin, hw, hw, requires_grad=True)
            conv = nn.Conv2d(cin, 16, 3, padding=1)
            if channels_last:
                x = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
                conv = conv.to(memory_format=torch.channels_last)
            gflop = 2 * 4 * hw * hw * cin * 16 * 9 / 1e9
            y = conv(x)
            g = torch.randn_like(y)
            torch.autograd.grad(y, (x, conv.weight), g, retain_graph=True)  # warm-up
            passes = (partial(conv, x), partial(torch.autograd.grad, y, (x,), g, retain_graph=True),
                      partial(torch.autograd.grad, y, (conv.weight,), g, retain_graph=True))
            rates = [gflop / _seconds(fn) for fn in passes]
            layout = "channels_last" if channels_last else "NCHW"
            print(f"{cin:>4} ch {hw:>3}x{hw:<3} {layout:<13} forward {rates[0]:5.0f}  grad input {rates[1]:5.0f}  "
                  f"grad weight {rates[2]:5.0f} GFLOP/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=["step", "conv"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layout", choices=["contiguous", "channels_last"], default="channels_last")
    parser.add_argument("--port", action="store_true", help="the plain Tiramisu port instead of segnet's model")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    parser.add_argument("--profile", action="store_true", help="torch.profiler table of one more step")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# {cpu_description()}; torch {torch.__version__}; {args.threads} thread(s)")
    step_time(args) if args.what == "step" else conv_rates()
    return 0


if __name__ == "__main__":
    sys.exit(main())
