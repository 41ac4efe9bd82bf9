"""The run directory: resolved config, per-epoch metrics.csv, TensorBoard events, curves.png.

    RUN_DIR/config.yaml        resolved config (what --resume reads back)
    RUN_DIR/metrics.csv        one row per epoch (both stages; `stage` column)
    RUN_DIR/curves.png         train loss and val mIoU per epoch
    RUN_DIR/tensorboard/       SummaryWriter events
    RUN_DIR/last.pt            resumable training state
    RUN_DIR/best.pt            best val mIoU so far (the model to evaluate)
    RUN_DIR/best_<stage>.pt    copy of best.pt when a stage ends
"""

from __future__ import annotations

import contextlib
import csv
import math
import time
from collections.abc import Sequence
from pathlib import Path

from omegaconf import OmegaConf

from segnet.core.atomic import atomic_write, os_reason
from segnet.core.choices import STAGES
from segnet.core.paths import RUNS_DIR
from segnet.data.classes import CLASS_NAMES
from segnet.errors import SegnetError

BASE_COLUMNS = [
    "stage", "epoch", "step", "lr", "train_loss", "val_miou", "val_pixel_accuracy",
    "val_mean_class_accuracy", "images_per_s", "epoch_seconds", "elapsed_minutes", "cpu_minutes",
]


def columns(class_names: Sequence[str]) -> list[str]:
    """metrics.csv's header: the base columns, then one IoU column per class."""
    return BASE_COLUMNS + [f"iou_{name}" for name in class_names]


def _stage_index(stage: str) -> int:
    return STAGES.index(stage) if stage in STAGES else 0


def default_run_dir(name: str, root: str | Path = RUNS_DIR) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{name}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{name}-{stamp}-{n}"
    return path


def make_run_dir(run_dir: Path) -> None:
    """Create ``run_dir`` (and its parents); a read-only or full disk is one SegnetError."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SegnetError(f"cannot create run folder {run_dir}: {os_reason(exc)}") from None


@contextlib.contextmanager
def _writing(path: Path):
    """An OSError while writing ``path`` (full or read-only disk) as one SegnetError naming it."""
    try:
        yield
    except OSError as exc:
        raise SegnetError(f"cannot write {path}: {os_reason(exc)}") from None


def save_config(cfg, run_dir: Path) -> None:
    """config.yaml, atomically: a resume rewrites it, and a failed rewrite must keep the old one."""
    make_run_dir(run_dir)
    path = run_dir / "config.yaml"
    with _writing(path), atomic_write(path, "w") as f:
        f.write(OmegaConf.to_yaml(cfg, resolve=True))


def epoch_row(stage: str, epoch: int, step: int, lr: float, loss: float, result: dict | None,
              images_per_s: float, seconds: float, elapsed_minutes: float,
              class_names: Sequence[str] = CLASS_NAMES, cpu_minutes: float | None = None) -> dict:
    """One metrics.csv row; the validation columns stay empty in epochs without validation.

    ``elapsed_minutes`` is wall time since this process started; ``cpu_minutes`` the CPU time of
    the whole training so far, across resumes (segnet.training.cpu_time; empty when unknown)."""
    row = {"stage": stage, "epoch": epoch, "step": step, "lr": lr, "train_loss": loss,
           "images_per_s": images_per_s, "epoch_seconds": seconds, "elapsed_minutes": elapsed_minutes,
           "cpu_minutes": cpu_minutes}
    if result is not None:
        row.update(val_miou=result["miou"], val_pixel_accuracy=result["pixel_accuracy"],
                   val_mean_class_accuracy=result["mean_class_accuracy"])
        row.update({f"iou_{c}": v for c, v in zip(class_names, result["per_class_iou"])})
    return row


def epoch_line(row: dict, epochs: int, best: str) -> str:
    """The line printed after an epoch, from its metrics.csv row (``best``: the best score so far)."""
    line = f"[{row['stage']}] epoch {row['epoch']}/{epochs} | loss {row['train_loss']:.4f} | lr {row['lr']:.2e}"
    if row.get("val_miou") is not None:
        line += f" | val mIoU {row['val_miou']:.4f} acc {row['val_pixel_accuracy']:.4f} ({best})"
    return line + f" | {row['images_per_s']:.1f} img/s | {row['epoch_seconds']:.0f}s"


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


class RunLog:
    """Rank 0's writer of metrics.csv, TensorBoard scalars and curves.png."""

    def __init__(self, run_dir: Path, purge_step: int | None = None, tensorboard: bool = True,
                 class_names: Sequence[str] = CLASS_NAMES):
        self.run_dir = Path(run_dir)
        self.class_names = list(class_names)
        self.columns = columns(class_names)
        self.csv_path = self.run_dir / "metrics.csv"
        self.rows: list[dict] = self._read_rows()
        self.writer = None
        self._plotted = -math.inf  # curves.png is redrawn at most once a minute, and at close()
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.run_dir / "tensorboard"), purge_step=purge_step)

    def _read_rows(self) -> list[dict]:
        if not self.csv_path.is_file():
            return []
        with self.csv_path.open(newline="") as f:
            return list(csv.DictReader(f))

    def _header(self) -> list[str]:
        with self.csv_path.open(newline="") as f:
            return next(csv.reader(f), [])

    def truncate(self, stage: str, epoch: int) -> None:
        """Drop rows a resumed run will write again (after the checkpoint's stage/epoch)."""
        limit = (_stage_index(stage), epoch)
        self.rows = [r for r in self.rows if (_stage_index(r["stage"]), int(r["epoch"])) <= limit]
        self._rewrite()

    def _rewrite(self) -> None:
        with _writing(self.csv_path), atomic_write(self.csv_path, "w") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            w.writeheader()
            w.writerows(self.rows)

    def scalar(self, tag: str, value: float, step: int) -> None:
        if self.writer is not None and value is not None and not math.isnan(value):
            self.writer.add_scalar(tag, value, step)

    def epoch(self, row: dict, step: int) -> None:
        """Append one epoch: csv row (missing values empty), TensorBoard, curves.png."""
        row = {k: _fmt(row.get(k)) for k in self.columns}
        if self.csv_path.is_file() and self._header() != self.columns:
            self._rewrite()  # a file from an older segnet: rewritten under today's header, old rows kept
        new_file = not self.csv_path.is_file()
        with _writing(self.csv_path), self.csv_path.open("a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns)
            if new_file:
                w.writeheader()
            w.writerow(row)
        self.rows.append(row)
        for key in ("train_loss", "lr", "images_per_s"):
            if row[key]:
                self.scalar(f"train/{key}", float(row[key]), step)
        for key in ("val_miou", "val_pixel_accuracy", "val_mean_class_accuracy"):
            if row[key]:
                self.scalar(f"val/{key[4:]}", float(row[key]), step)
        for name in self.class_names:
            if row[f"iou_{name}"]:
                self.scalar(f"val_iou/{name}", float(row[f"iou_{name}"]), step)
        if self.writer is not None:
            self.writer.flush()
        if time.monotonic() - self._plotted > 60:
            self.plot()

    def plot(self) -> None:
        self._plotted = time.monotonic()
        if not self.rows:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        x = list(range(1, len(self.rows) + 1))
        loss = [float(r["train_loss"]) if r["train_loss"] else math.nan for r in self.rows]
        miou = [float(r["val_miou"]) if r["val_miou"] else math.nan for r in self.rows]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.plot(x, loss)
        ax1.set(title="train loss", xlabel="epoch (all stages)")
        vx = [i for i, m in zip(x, miou) if not math.isnan(m)]
        ax2.plot(vx, [m for m in miou if not math.isnan(m)], marker="." if len(vx) < 50 else None)
        ax2.set(title="val mIoU", xlabel="epoch (all stages)")
        starts = [i for i, r in zip(x, self.rows) if r["stage"] == "finetune" and r["epoch"] == "1"]
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
            for s in starts:
                ax.axvline(s, color="gray", linestyle="--", linewidth=0.8)
        fig.tight_layout()
        # A figure is not worth stopping a run for: on a full disk the old curves.png stays, and
        # the checkpoint write that follows stops the run with the message that matters.
        with contextlib.suppress(OSError), atomic_write(self.run_dir / "curves.png") as f:
            fig.savefig(f, dpi=90, format="png")
        plt.close(fig)

    def close(self) -> None:
        self.plot()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
