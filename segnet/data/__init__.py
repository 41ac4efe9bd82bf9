"""Data layer: CamVid-layout datasets and their classes, transforms, class weights, loaders (docs/DESIGN.md).

Names are imported from their modules on first use: the transforms bring albumentations (over a
second to import), which inference, evaluation and the service do not need.
"""

_WHERE = {
    "CamVid": "camvid", "find_pairs": "camvid", "read_pair": "camvid",
    "class_frequencies": "class_weights", "median_frequency_weights": "class_weights",
    "CAMVID": "classes", "CLASS_NAMES": "classes", "NUM_CLASSES": "classes", "PALETTE": "classes", "VOID_ID": "classes",
    "DatasetClasses": "classes", "load_classes": "classes",
    "read_image": "images", "read_label": "images",
    "make_loader": "loader",
    "eval_transform": "transforms", "train_transform": "transforms",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(f"segnet.data.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'segnet.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
