"""The Python API: the functions ``import segnet`` exposes (the README's "Python API" section).

    model = segnet.load_model()                  # bundled CamVid model, a .pt, a run folder or run name
    labels = model.predict(rgb)                  # HxWx3 uint8 (or a path, a batch, a list) -> HxW ids
    result = segnet.evaluate(model, "data/CamVid", split="test")
    run = segnet.train(segnet.load_config("configs/quick_cpu.yaml", ["train.epochs=2"]))
    segnet.export(model, "model.onnx")
"""

from segnet.api.jobs import EvaluationResult, TrainingRun, evaluate, export, resume, train
from segnet.api.model import Model, load_model
from segnet.config import load_config
from segnet.data.classes import DatasetClasses, load_classes

__all__ = [
    "DatasetClasses",
    "EvaluationResult",
    "Model",
    "TrainingRun",
    "evaluate",
    "export",
    "load_classes",
    "load_config",
    "load_model",
    "resume",
    "train",
]
