"""Validation mIoU per epoch of several runs in one plot (docs/results/training.md evidence runs).

    python tools/compare_curves.py OUT.png "label one=RUN_DIR" "label two=RUN_DIR" [--title TEXT]

Reads each run's metrics.csv (written by segnet train) and prints the curves as a table too.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt


def val_curve(run_dir: Path) -> list[tuple[int, float]]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return [(int(r["epoch"]), float(r["val_miou"])) for r in csv.DictReader(f) if r["val_miou"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("runs", nargs="+", help="LABEL=RUN_DIR")
    parser.add_argument("--title", default="val mIoU per epoch")
    args = parser.parse_args()
    curves = {}
    for spec in args.runs:
        label, _, run = spec.rpartition("=")
        curves[label or run] = val_curve(Path(run))
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, points in curves.items():
        ax.plot([e for e, _ in points], [100 * m for _, m in points], marker="o", label=label)
    ax.set(xlabel="epoch", ylabel="val mIoU (%)", title=args.title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    epochs = sorted({e for points in curves.values() for e, _ in points})
    print("epoch | " + " | ".join(curves))
    for epoch in epochs:
        row = [f"{100 * dict(points)[epoch]:.1f}" if epoch in dict(points) else "" for points in curves.values()]
        print(f"{epoch} | " + " | ".join(row))


if __name__ == "__main__":
    main()
