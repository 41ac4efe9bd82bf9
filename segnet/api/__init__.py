"""The Python API: the functions ``import segnet`` exposes (the README's "Python API" section).
The ``segnet`` commands are thin layers over these names.

    model = segnet.load_model()                  # bundled CamVid model, a .pt, a run folder or run name
    labels = model.predict(rgb)                  # HxWx3 uint8 (or a path, a batch, a list) -> HxW ids
    result = segnet.evaluate(model, "data/CamVid", split="test")
    segnet.predict_files(model, ["photos/", "clip.mp4"], "outputs/pred")
    run = segnet.train(segnet.load_config("configs/quick_cpu.yaml", ["train.epochs=2"]))
    segnet.export(model, "model.onnx")
"""

from segnet.api.jobs import (DemoResult, EvaluationResult, TrainingRun, demo, evaluate, export, predict_files, resume,
                              train)
from segnet.api.model import Model, load_model
from segnet.config.load import load_config
from segnet.data.classes import DatasetClasses, load_classes
from segnet.jobs.predict import OutputOptions
from segnet.training.stop import TrainingInterrupted

__all__ = [
    "DatasetClasses",
    "DemoResult",
    "EvaluationResult",
    "Model",
    "OutputOptions",
    "TrainingInterrupted",
    "TrainingRun",
    "demo",
    "evaluate",
    "export",
    "load_classes",
    "load_config",
    "load_model",
    "predict_files",
    "resume",
    "train",
]
