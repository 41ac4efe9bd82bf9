"""``segnet.evaluate``, ``segnet.predict_files``, ``segnet.demo``, ``segnet.train`` / ``segnet.resume``
and ``segnet.export``, with typed results: what the ``segnet`` commands run."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from segnet.api.model import Model, load_model
from segnet.core.defaults import CALIBRATION_FRAMES, DEMO_FPS
from segnet.errors import SegnetError
from segnet.jobs.frame_scores import FrameScores
from segnet.jobs.predict import OutputOptions


def _model(model: Model | str | os.PathLike | None) -> Model:
    return model if isinstance(model, Model) else load_model(model)


@dataclass
class EvaluationResult:
    """Scores of a model on one split (void pixels ignored). IoU values are fractions in [0, 1];
    a class never seen nor predicted has IoU NaN.

    ``frames`` (not in metrics.json): each frame's confusion matrix and mIoU (``frames.mious()``)
    and the worst frames' pictures (``frames.worst()``, as many as ``evaluate(worst=N)`` asked for);
    None for a result rebuilt from a metrics.json.
    """

    miou: float
    per_class_iou: dict[str, float]
    pixel_accuracy: float
    mean_class_accuracy: float
    confusion: np.ndarray  # [num_classes, num_classes] pixel counts; rows: truth, columns: prediction
    class_names: list[str]
    split: str
    num_images: int
    report: dict[str, Any] = field(repr=False)  # everything, as metrics.json holds it
    frames: FrameScores | None = field(default=None, repr=False, compare=False)

    def save(self, folder: str | os.PathLike, report: bool = False) -> list[Path]:
        """Write metrics.json, per_class_iou.csv and confusion_matrix.png into ``folder``; with
        ``report``, also report.html: one self-contained page (opens offline) with the per-class
        IoU chart and table, the confusion matrix, the distribution of per-frame mIoU and the
        worst frames (original | ground truth | prediction | errors). All or nothing; returns the paths."""
        from segnet.jobs.evaluate import write_report

        if report and self.frames is None:
            raise SegnetError("report.html needs the per-frame scores of segnet.evaluate; "
                              "this result was rebuilt from a metrics.json")
        return write_report(self.report, folder, frames=self.frames if report else None, description=self.describe())

    def table(self) -> str:
        """The per-class IoU table ``segnet evaluate`` prints."""
        from segnet.jobs.evaluate import format_table

        return format_table(self.report)

    def describe(self) -> str:
        """One line: model, dataset, split, image count and the settings that shaped the scores."""
        from segnet.jobs.evaluate import dataset_name

        r, s = self.report, self.report["settings"]
        return (f"{r['model_name']} on {dataset_name(r)} {r['split']} ({r['num_images']} images; {s['precision']}, "
                f"tta {s['tta']}, protocol {s['protocol']}: bn {s['bn']}, batch {s['batch_size']}, "
                f"input_scale {s['input_scale']:g}, rescale {s.get('rescale', 'factor')})")

    @classmethod
    def from_report(cls, report: dict[str, Any], frames: FrameScores | None = None) -> EvaluationResult:
        """The result of a metrics.json-shaped report (segnet.jobs.evaluate) and its per-frame scores."""
        return cls(
            miou=report["miou"], per_class_iou=dict(report["per_class_iou"]), pixel_accuracy=report["pixel_accuracy"],
            mean_class_accuracy=report["mean_class_accuracy"],
            confusion=np.asarray(report["confusion_matrix"], dtype=np.int64), class_names=list(report["class_names"]),
            split=report["split"], num_images=report["num_images"], report=report, frames=frames,
        )


def evaluate(model: Model | str | os.PathLike | None, data_root: str | os.PathLike | None = None,
             split: str = "test", batch_size: int = 2, bn: str = "running", protocol: str = "standard",
             progress: bool = False, worst: int = 0) -> EvaluationResult:
    """Per-class IoU, mIoU, accuracies and confusion matrix of ``model`` on a split of a dataset.

    ``model``: a Model, or anything ``load_model`` takes. ``data_root``: a folder in the SegNet
    layout (default: $SEGNET_DATA_ROOT or data/CamVid). ``split``: "test", "val", "train" or
    "trainval". ``bn="batch"`` normalises with each test batch's statistics (the official
    FC-DenseNet evaluation); "running" uses the stored ones. ``protocol="paper"`` takes BatchNorm
    mode and batch size from the paper's own evaluation of this architecture. Every frame's own
    mIoU is kept (``result.frames``); ``worst``: also keep the pictures of the ``worst`` frames with
    the lowest mIoU, as predicted here, for ``result.save(folder, report=True)``.
    """
    from segnet.core.paths import default_data_root
    from segnet.jobs.evaluate import evaluate as run_evaluation

    if not isinstance(worst, int) or worst < 0:
        raise SegnetError(f"worst must be a whole number >= 0, got {worst!r}")
    model = _model(model)
    frames = FrameScores(model.classes, keep_worst=worst)
    report = run_evaluation(model.checkpoint, model.source, data_root or default_data_root(), split=split,
                            batch_size=batch_size, device=model.requested_device, amp=model.amp, tta=model.tta,
                            bn=bn, protocol=protocol, progress=progress, running_predictor=lambda: model.predictor,
                            rescale=model.rescale, frames=frames)
    return EvaluationResult.from_report(report, frames)


def predict_files(model: Model | str | os.PathLike | None, inputs: Sequence[str | os.PathLike], out: str | os.PathLike,
                  options: OutputOptions | None = None, progress: bool = False) -> dict[str, Any]:
    """Segment images, videos, folders, quoted globs, cameras (``0``, ``/dev/video0``) and stream URLs
    into the folder ``out``, as ``segnet predict`` does.

    Per image: ``<name>_labels.png`` (class ids), ``_color.png`` (the dataset's palette) and
    ``_overlay.png``; per video, camera or stream: ``<name>_overlay.webm``. Nothing is written
    unless every input succeeds (a live source keeps what it sent until it stopped). ``options``:
    a ``segnet.OutputOptions`` (opacity, legend, side by side, frames, batch size, ...).
    Returns counts and speeds: ``images``, ``seconds``, ``images_per_second`` and, per video,
    ``videos[i]`` with ``input``, ``output``, ``codec``, ``frames``, ``frames_per_second``, ``stopped``.
    """
    from segnet.jobs.predict import collect_inputs, run_predict

    options = options or OutputOptions()
    model = _model(model)
    items = collect_inputs([str(i) for i in inputs], save_frames=options.save_frames)
    return run_predict(model.predictor, items, out, options, progress=progress)


@dataclass
class DemoResult:
    """What ``segnet.demo`` made: the assembled clip, the overlay video and the scores of its frames."""

    evaluation: EvaluationResult  # per-class IoU of the sequence's frames against testannot/
    clip: Path  # the frames assembled into a video (FFV1 .mkv when this OpenCV writes it: lossless)
    codec: str
    fps: float
    overlay: Path  # the overlay video, with a legend
    frames: int
    frames_per_second: float  # segmentation speed
    precision: str
    threads: int


def demo(model: Model | str | os.PathLike | None = None, data_root: str | os.PathLike | None = None,
         out: str | os.PathLike = "outputs/demo", fps: float = DEMO_FPS, options: OutputOptions | None = None,
         progress: bool = False) -> DemoResult:
    """``model`` (default: the bundled one) on CamVid's Seq05VD test sequence: its frames as a
    ``fps`` video, the overlay video, and per-class IoU against the labels, all into ``out``
    (metrics.json, per_class_iou.csv, confusion_matrix.png too). Steps: segnet.jobs.demo."""
    from segnet.core.paths import default_data_root
    from segnet.jobs.demo import run_demo

    model = _model(model)
    made = run_demo(lambda: model.predictor, model.name, model.source, data_root or default_data_root(), out,
                    fps=fps, options=options, progress=progress)
    report = made.pop("report")
    return DemoResult(evaluation=EvaluationResult.from_report(report), **made)


@dataclass
class TrainingRun:
    """Where a training run lives and how it ended."""

    run_dir: Path
    best_checkpoint: Path  # best.pt: the weights with the best validation mIoU
    best_miou: float | None  # None when no validation ran
    stopped: str  # why training ended (epochs done, early stopping, time budget, ...)
    summary: dict[str, Any] = field(repr=False)
    is_main: bool = True  # False in the other processes of a torchrun launch: only the first one reports

    def load_model(self, **kwargs) -> Model:
        """The best model of this run (keyword arguments as for ``segnet.load_model``)."""
        return load_model(self.best_checkpoint, **kwargs)


def _run(summary: dict[str, Any]) -> TrainingRun:
    from segnet.training.distributed import current_rank

    best = summary.get("best_miou")
    best = float(best) if isinstance(best, (int, float)) and math.isfinite(best) else None
    return TrainingRun(Path(summary["run_dir"]), Path(summary["best"]), best, str(summary.get("stopped", "")), summary,
                       is_main=current_rank() == 0)


def train(config, command: str = "", resume_hint: str | None = None) -> TrainingRun:
    """Train as ``config`` says: a config from ``segnet.load_config(path, overrides)``, or a recipe path.

    Writes the run folder (``config.run_dir``, default runs/<name>-<time>): last.pt, best.pt,
    metrics.csv, curves. ``command`` is recorded in the checkpoints' meta.

    SIGINT/SIGTERM stop at the next whole step with a resumable last.pt and raise
    ``segnet.TrainingInterrupted``; a second signal ends the process at once with one line on
    stderr, which names ``resume_hint`` (``{run_dir}`` filled in) when given.
    """
    from omegaconf import DictConfig

    from segnet.config.load import load_config
    from segnet.training.train import train as run_training

    if isinstance(config, (str, os.PathLike)):
        config = load_config(config)
    if not isinstance(config, DictConfig):
        raise SegnetError(f"train needs a config from segnet.load_config or a recipe path, got {type(config).__name__}")
    return _run(run_training(config, command=command, resume_hint=resume_hint))


def resume(run_dir: str | os.PathLike, overrides: list[str] | None = None, command: str = "",
           resume_hint: str | None = None) -> TrainingRun:
    """Continue a stopped run from its last.pt; ``overrides`` (key=value) may add epochs or time.
    A finished run returns at once with ``stopped == "already finished"``. Signals: as ``train``."""
    from segnet.training.train import resume as run_resume

    return _run(run_resume(run_dir, overrides, command=command, resume_hint=resume_hint))


def export(model: Model | str | os.PathLike | None, path: str | os.PathLike, format: str | None = None,
           int8: bool = False, calibration_frames: int | None = None,
           data_root: str | os.PathLike | None = None) -> Path:
    """Write ``model`` as ONNX (dynamic batch, height, width) or, with ``format="openvino"``, as an
    OpenVINO IR (``path`` an .xml, its weights beside it in .bin; ``format`` None: from the suffix,
    and a suffix that is not the format's is refused); the classes and preprocessing
    go in the model's metadata. ``int8`` (OpenVINO only): NNCF post-training quantization,
    calibrated on ``calibration_frames`` TRAIN frames of ``data_root`` (default: the model's
    dataset). Files appear whole or not at all; returns ``path``.
    """
    from segnet.deploy.export import export_format, export_onnx, export_openvino

    format = export_format(path, format)
    if int8 and format != "openvino":
        raise SegnetError("int8 quantization needs format='openvino'")
    model = _model(model)
    if "model" not in model.checkpoint:  # an exported .onnx/.xml has a graph, not the weights export needs
        raise SegnetError(f"{model.source} is already an exported model; export from its .pt checkpoint")
    if format == "openvino":
        frames = CALIBRATION_FRAMES if calibration_frames is None else calibration_frames
        return export_openvino(model.checkpoint, path, model.source, int8=int8, calibration_frames=frames,
                               data_root=data_root)
    return export_onnx(model.checkpoint, path, source=model.source)
