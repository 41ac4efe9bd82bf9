"""Data layer: CamVid-layout datasets and their classes, transforms, class weights, loaders (docs/DESIGN.md)."""

from segnet.data.camvid import CamVid, find_pairs, read_pair
from segnet.data.class_weights import class_frequencies, median_frequency_weights
from segnet.data.classes import CAMVID, CLASS_NAMES, NUM_CLASSES, PALETTE, VOID_ID, DatasetClasses, load_classes
from segnet.data.images import read_image, read_label
from segnet.data.loader import make_loader
from segnet.data.transforms import eval_transform, train_transform

__all__ = [
    "CAMVID",
    "CLASS_NAMES",
    "NUM_CLASSES",
    "PALETTE",
    "VOID_ID",
    "CamVid",
    "DatasetClasses",
    "class_frequencies",
    "eval_transform",
    "find_pairs",
    "load_classes",
    "make_loader",
    "median_frequency_weights",
    "read_image",
    "read_label",
    "read_pair",
    "train_transform",
]
