"""``segnet bench models``: parameters, GFLOPs, training-step time and peak memory, eval
frames/s per model, and how one dense block grows against one Log-DenseNet block.

The training step runs in a fresh subprocess per (model, variant) exactly as ``segnet train``
runs it by default (segnet.bench.train_step: the model's recipe in configs/, its optimizer,
precision and memory format); ``port`` is the plain PyTorch Tiramisu port measured beside it.
"Saved" is what autograd keeps for backward (deterministic). ``--json FILE``: one record per
(model, variant), the variant ``segnet train`` uses by default marked ``"default": true``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segnet.bench.train_step import MIB, _sync
from segnet.core.atomic import atomic_write
from segnet.core.device import cpu_description
from segnet.core.paths import REPO_ROOT

DEFAULT_MODELS = ["fc_densenet56", "fc_densenet67", "fc_densenet103", "fc_log_densenet103"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="names for create_model")
    parser.add_argument("--memory-efficient", action="store_true",
                        help="also run each model with memory_efficient=True")
    parser.add_argument("--channels-first", action="store_true", help="also run each model with channels_last=false")
    parser.add_argument("--compile", action="store_true",
                        help="also run each model with compile=true "
                             "(torch.compile; first_step_seconds holds the compilation)")
    parser.add_argument("--no-port", action="store_true", help="skip the plain-port reference beside fc_densenet103")
    parser.add_argument("--weights", help="start the training step from this checkpoint's weights (e.g. a late "
                                          "RUN/last.pt: subnormal values appear late in training), not a fresh init")
    parser.add_argument("--flush-denormal", action="store_true",
                        help="also run each step with torch.set_flush_denormal(True) (config flush_denormal)")
    parser.add_argument("--config",
                        help="recipe for the step (default: configs/<model>.yaml, else the schema defaults)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", metavar="FILE", help="write one record per (model, variant) to FILE")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=4, help="training-step batch size")
    parser.add_argument("--train-size", type=int, nargs=2, default=[224, 224], metavar=("H", "W"))
    parser.add_argument("--eval-size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed repeats (after one warm-up); the median is reported")
    parser.add_argument("--skip", nargs="*", default=[], choices=["flops", "train", "eval", "growth"])
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64], help="growth table depths")


def trainable_parameters(model: nn.Module) -> int:
    """The parameters the optimizer updates (frozen ones left out)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def gflops(model: nn.Module, size: Sequence[int], device: str | torch.device = "cpu", in_channels: int = 3) -> float:
    """GFLOPs of one eval-mode forward pass on a 1 x ``in_channels`` x H x W input (``size`` = (H, W)),
    as torch's FlopCounterMode counts them; leaves ``model`` in eval mode."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.randn(1, in_channels, *size, device=device))
    return counter.get_total_flops() / 1e9


def _eval_fps(model: nn.Module, size, repeats: int, device) -> float:
    x = torch.randn(1, 3, *size, device=device)
    with torch.no_grad():
        model.eval()(x)
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            model(x)
        _sync(device)
    return repeats / (time.perf_counter() - start)


def saved_bytes(fn) -> int:
    """Bytes of distinct storages autograd saves for backward while ``fn()`` runs."""
    storages = {}

    def pack(t):
        s = t.untyped_storage()
        storages[s.data_ptr()] = s.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(storages.values())


def growth_table(depths, growth_rate: int = 16, in_channels: int = 48, size: int = 56) -> list[dict]:
    """One DenseBlock vs one LogDenseBlock of L layers, input 1 x 48 x 56 x 56, k = 16."""
    from segnet.models.blocks import DenseBlock
    from segnet.models.log_dense import LogDenseBlock

    rows = []
    x = torch.randn(1, in_channels, size, size)
    for depth in depths:
        for kind, block in (
            ("dense", DenseBlock(in_channels, depth, growth_rate)),
            ("log-dense", LogDenseBlock(in_channels, depth, growth_rate)),
        ):
            connections = (
                sum(len(js) for js in block.inputs) if kind == "log-dense" else depth * (depth + 1) // 2
            )
            block_gflops = gflops(block, (size, size), in_channels=in_channels)
            forward = block.train()
            rows.append(
                {
                    "L": depth,
                    "block": kind,
                    "connections": connections,
                    "gflops": block_gflops,
                    "saved_mib": saved_bytes(lambda forward=forward: torch.cat(forward(x.requires_grad_()), 1)) / MIB,
                }
            )
    return rows


def _forward_figures(args: argparse.Namespace, name: str) -> tuple[float, float, float, float]:
    """(parameters M, GFLOPs, eval frames/s, saved MiB) of a fresh ``name``; the model is freed on
    return, before the training-step subprocesses start."""
    from segnet.models import create_model

    eval_size = tuple(args.eval_size)
    model = create_model(name, 11).to(args.device)
    params = trainable_parameters(model) / 1e6
    giga = gflops(model, eval_size, args.device) if "flops" not in args.skip else float("nan")
    fps = _eval_fps(model, eval_size, args.repeats, args.device) if "eval" not in args.skip else float("nan")
    frame = torch.randn(1, 3, 64, 64, device=args.device)
    saved = saved_bytes(lambda: model.train()(frame)) / MIB
    return params, giga, fps, saved


def _recipe(name: str, explicit: str | None) -> str | None:
    if explicit:
        return explicit
    recipe = REPO_ROOT / "configs" / f"{name}.yaml"
    return str(recipe) if recipe.is_file() else None


def _variants(args: argparse.Namespace, name: str) -> list[tuple[str, list[str]]]:
    """(variant, overrides): ``default`` is the step ``segnet train`` takes with the recipe as is."""
    base = [f"model.name={name}"]
    variants = [("default", base)]
    if args.channels_first:
        variants.append(("channels_first", base + ["channels_last=false"]))
    if args.memory_efficient:
        variants.append(("memory_efficient", base + ["model.options.memory_efficient=true"]))
    if args.compile:
        variants.append(("compiled", base + ["compile=true"]))
    if args.flush_denormal:
        variants.append(("flush_denormal", base + ["flush_denormal=true"]))
    if name == "fc_densenet103" and not args.no_port:
        variants.append(("port", base))
    return variants


def run(args: argparse.Namespace) -> int:
    from segnet.bench.train_step import run_in_subprocess

    if args.threads:
        torch.set_num_threads(args.threads)
    machine = cpu_description()
    print(f"# machine: {machine}")
    print(f"# torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    train_size, eval_size = tuple(args.train_size), tuple(args.eval_size)
    print(
        f"{'model':<22} {'variant':<17} {'params M':>8} {'GFLOPs':>7} {'step s':>7} {'img/s':>6} "
        f"{'x port':>6} {'peak GiB':>8} {'saved MiB':>9} {'eval fps':>8}"
    )
    print(f"{'':<48} {f'@{eval_size[0]}x{eval_size[1]}':>8} {f'b{args.batch}@{train_size[0]}x{train_size[1]}':>14}")
    records = []
    for name in args.models:
        params, giga, fps, saved = _forward_figures(args, name)
        rows = []
        for variant, overrides in ([] if "train" in args.skip else _variants(args, name)):
            spec = {"config": _recipe(name, args.config), "overrides": overrides, "variant": variant,
                    "batch": args.batch, "size": train_size, "repeats": args.repeats, "device": args.device,
                    "threads": torch.get_num_threads(), "weights": args.weights,
                    "flush_denormal": "flush_denormal=true" in overrides}
            row = run_in_subprocess(spec)
            row.update(variant=variant, default=variant == "default", params_m=params, gflops=giga,
                       eval_fps=fps, machine=machine, device=args.device)  # fmt: skip
            rows.append(row)
        port = next((r for r in rows if r["variant"] == "port"), None)
        for row in rows:
            row["speedup_vs_port"] = port["train_seconds_per_step"] / row["train_seconds_per_step"] if port else None
            peak = row["peak_rss_gib"] if row["peak_rss_gib"] is not None else row["peak_step_mib"] / 1024
            print(
                f"{name:<22} {row['variant']:<17} {params:>8.2f} {giga:>7.1f} {row['train_seconds_per_step']:>7.2f} "
                f"{row['train_images_per_s']:>6.2f} {row['speedup_vs_port'] or float('nan'):>6.2f} {peak:>8.2f} "
                f"{saved:>9.0f} {fps:>8.2f}",
                flush=True,
            )
        if args.weights or args.flush_denormal:
            shares = ", ".join(f"{r['variant']} {100 * r['subnormal_fraction']:.4f} %" for r in rows)
            print(f"# {name}: subnormal share of weights, gradients and optimizer state after the steps: {shares}")
        if not rows:
            print(f"{name:<22} {'-':<17} {params:>8.2f} {giga:>7.1f} {'':>7} {'':>6} {'':>6} {'':>8} "
                  f"{saved:>9.0f} {fps:>8.2f}")
        records += rows
    print("# saved MiB: autograd's saved activations for one 64x64 frame; peak GiB: the step's process peak RSS")
    if args.json:
        with atomic_write(args.json, "w") as f:
            f.write(json.dumps(records, indent=2) + "\n")
        print(f"# wrote {len(records)} records to {args.json}")
    if "growth" not in args.skip:
        print("\n# one block, input 1x48x56x56, growth 16: connections, forward GFLOPs, activations saved for backward")
        print(f"{'L':>4} {'block':<10} {'connections':>11} {'GFLOPs':>8} {'saved MiB':>9}")
        for r in growth_table(args.depths):
            print(f"{r['L']:>4} {r['block']:<10} {r['connections']:>11} {r['gflops']:>8.2f} {r['saved_mib']:>9.1f}")
    return 0
