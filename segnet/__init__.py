"""segnet: semantic segmentation with densely connected networks.

The Python API (see README, "Python API")::

    import segnet
    model = segnet.load_model()            # the bundled CamVid model
    labels = model.predict(rgb)            # HxWx3 uint8 RGB -> HxW uint8 class ids
    result = segnet.evaluate(model, "data/CamVid", split="test")

Names are imported on first use, so ``import segnet`` (and the ``segnet`` command's start-up)
does not load torch.
"""

__version__ = "0.1.0"

# name -> the module that defines it; segnet.api for the rest of the API (it loads torch)
_LIGHT = {"SegnetError": "segnet.errors", "load_config": "segnet.config.load", "serve": "segnet.service",
          "create_app": "segnet.service"}
_API = ("DatasetClasses", "DemoResult", "EvaluationResult", "Model", "OutputOptions", "SegnetError",
        "TrainingInterrupted", "TrainingRun", "create_app", "demo", "evaluate", "export", "load_classes", "load_config",
        "load_model", "predict_files", "resume", "serve", "train")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        import importlib

        return getattr(importlib.import_module(_LIGHT.get(name, "segnet.api")), name)
    raise AttributeError(f"module 'segnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
