"""``segnet bench models``: parameters, GFLOPs, training-step time and peak memory, eval
frames/s per model, and how one dense block grows against one Log-DenseNet block.

Peak memory of a training step is measured in a fresh subprocess per model: on CUDA
``torch.cuda.max_memory_allocated``; on CPU the process's peak resident set (VmHWM, reset
through /proc/self/clear_refs after a warm-up step) minus its size before the step, with
glibc told to mmap every large block (MALLOC_MMAP_THRESHOLD_) so freed tensors leave the
resident set at once. "Saved" is what autograd keeps for backward (deterministic).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn as nn
from torch.utils.flop_counter import FlopCounterMode

from segnet.core.device import cpu_description

DEFAULT_MODELS = ["fc_densenet56", "fc_densenet67", "fc_densenet103", "fc_log_densenet103"]
MIB = 2**20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", nargs="+", default=DEFAULT_MODELS, help="names for create_model")
    parser.add_argument("--memory-efficient", action="store_true", help="also run each model with memory_efficient=True")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=4, help="training-step batch size")
    parser.add_argument("--train-size", type=int, nargs=2, default=[224, 224], metavar=("H", "W"))
    parser.add_argument("--eval-size", type=int, nargs=2, default=[360, 480], metavar=("H", "W"))
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats (after one warm-up)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["flops", "train", "eval", "growth"])
    parser.add_argument("--depths", type=int, nargs="+", default=[8, 16, 32, 64], help="growth table depths")


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _gflops(model: nn.Module, size, device) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.randn(1, 3, *size, device=device))
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


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


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


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def train_step_worker(spec: dict) -> dict:
    """One model's training step: time, peak memory, saved activations (run in a subprocess)."""
    from segnet.models import create_model, deep_supervision_loss

    torch.set_num_threads(spec["threads"])
    device = torch.device(spec["device"])
    model = create_model(spec["name"], 11, **spec["options"]).to(device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    criterion = nn.CrossEntropyLoss(ignore_index=11)
    x = torch.randn(spec["batch"], 3, *spec["size"], device=device)
    y = torch.randint(0, 12, (spec["batch"], *spec["size"]), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = deep_supervision_loss(model(x), y, criterion)
        loss.backward()
        optimizer.step()

    step()  # warm-up: momentum buffers, allocator pools
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _status_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    start = time.perf_counter()
    for _ in range(spec["repeats"]):
        step()
    _sync(device)
    seconds = (time.perf_counter() - start) / spec["repeats"]
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else _status_kib("VmHWM") * 1024
    optimizer.zero_grad(set_to_none=True)
    saved = saved_bytes(lambda: model(x))
    return {"step_s": seconds, "peak_mib": (peak - base) / MIB, "saved_mib": saved / MIB}


def _train_step(spec: dict) -> dict:
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, "-m", "segnet.bench.models", json.dumps(spec)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"training-step worker failed for {spec['name']}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


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
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                block.eval()(x)
            block.train()
            rows.append(
                {
                    "L": depth,
                    "block": kind,
                    "connections": connections,
                    "gflops": counter.get_total_flops() / 1e9,
                    "saved_mib": saved_bytes(lambda: torch.cat(block(x.requires_grad_()), 1)) / MIB,
                }
            )
    return rows


def run(args: argparse.Namespace) -> int:
    from segnet.models import create_model

    print(f"# machine: {cpu_description()}")
    print(f"# torch {torch.__version__}, device {args.device}, threads {torch.get_num_threads()}")
    train_size, eval_size = tuple(args.train_size), tuple(args.eval_size)
    print(
        f"{'model':<38} {'params M':>9} {'GFLOPs':>8} {'train s':>8} {'peak MiB':>9} "
        f"{'saved MiB':>9} {'eval fps':>8}"
    )
    print(f"{'':<38} {'':>9} {'@%dx%d' % eval_size:>8} {'b%d@%dx%d' % (args.batch, *train_size):>18}")
    variants = [(name, {}) for name in args.models]
    if args.memory_efficient:
        variants = [v for name in args.models for v in ((name, {}), (name, {"memory_efficient": True}))]
    for name, options in variants:
        label = name + (" (memory_efficient)" if options else "")
        model = create_model(name, 11, **options).to(args.device)
        row = {"params": _params(model) / 1e6}
        row["gflops"] = _gflops(model, eval_size, args.device) if "flops" not in args.skip else float("nan")
        if "train" not in args.skip:
            spec = dict(name=name, options=options, batch=args.batch, size=train_size, repeats=args.repeats,
                        device=args.device, threads=torch.get_num_threads())  # fmt: skip
            row.update(_train_step(spec))
        fps = _eval_fps(model, eval_size, args.repeats, args.device) if "eval" not in args.skip else float("nan")
        print(
            f"{label:<38} {row['params']:>9.2f} {row['gflops']:>8.1f} {row.get('step_s', float('nan')):>8.2f} "
            f"{row.get('peak_mib', float('nan')):>9.0f} {row.get('saved_mib', float('nan')):>9.0f} {fps:>8.2f}",
            flush=True,
        )
        del model
    if "growth" not in args.skip:
        print("\n# one block, input 1x48x56x56, growth 16: connections, forward GFLOPs, activations saved for backward")
        print(f"{'L':>4} {'block':<10} {'connections':>11} {'GFLOPs':>8} {'saved MiB':>9}")
        for r in growth_table(args.depths):
            print(f"{r['L']:>4} {r['block']:<10} {r['connections']:>11} {r['gflops']:>8.2f} {r['saved_mib']:>9.1f}")
    return 0


if __name__ == "__main__":  # the training-step worker, run by _train_step in a fresh process
    print(json.dumps(train_step_worker(json.loads(sys.argv[1]))))
