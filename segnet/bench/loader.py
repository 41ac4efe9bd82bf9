"""``segnet bench loader``: the CamVid train split through Dataset + DataLoader, in frames/s.

Defaults are the training defaults: train_transform() (224 crops, flip), batch size 4 and
make_loader's defaults (2 workers, persistent). Epoch 1 includes starting the workers; the figure
reported is the best of the later, warm epochs. Recorded in docs/results/data.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

from segnet.core.device import cpu_description
from segnet.core.paths import default_data_root


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, default=None, help="CamVid folder (default: the data root)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--num-workers", type=int, default=None, help="default: make_loader's default")
    parser.add_argument("--epochs", type=int, default=3, help="passes over the split (the first is warm-up)")
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cache", action="store_true", help="CamVid(cache=True): decode once, keep frames in RAM")


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the loader's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run(args: argparse.Namespace) -> int:
    from segnet.data import CamVid, make_loader, train_transform

    root = args.root if args.root is not None else default_data_root()
    start = time.perf_counter()
    dataset = CamVid(root, args.split, train_transform(crop_size=args.crop_size, scale=args.scale), cache=args.cache)
    build_s = time.perf_counter() - start
    extra = {} if args.num_workers is None else {"num_workers": args.num_workers}
    loader = make_loader(dataset, batch_size=args.batch_size, shuffle=True, **extra)

    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    single = len(dataset) / (time.perf_counter() - start)

    workers = loader.num_workers
    rates, total_frames = [], 0
    cpu_start = _cpu_seconds()
    for _ in range(max(1, args.epochs)):
        frames, start = 0, time.perf_counter()
        for images, _ in loader:
            frames += images.shape[0]
        rates.append(frames / (time.perf_counter() - start))
        total_frames += frames
    del loader  # joins the persistent workers, so their CPU time is counted below
    cpu_ms = (_cpu_seconds() - cpu_start) * 1000 / total_frames
    warm = max(rates[1:]) if len(rates) > 1 else rates[0]

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {cpu_description()}, {cores} cores available")
    print(f"CamVid {args.split}: {len(dataset)} frames, batch {args.batch_size}, workers {workers}, "
          f"crop {args.crop_size}, scale {args.scale}, cache {args.cache}")
    print(f"Dataset construction: {build_s:.2f} s" + (" (decodes every frame once)" if args.cache else ""))
    print(f"Dataset only (main process): {single:.0f} frames/s")
    print("DataLoader per epoch: " + ", ".join(f"{r:.0f}" for r in rates) + " frames/s (epoch 1 starts workers)")
    print(f"CPU per frame, main process + workers: {cpu_ms:.2f} ms "
          f"(at most {1000 * cores / cpu_ms:.0f} frames/s on {cores} idle cores)")
    print(f"DataLoader: {warm:.0f} frames/s")
    return 0
