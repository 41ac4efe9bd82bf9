"""What /v1/segment answers for a frame and its class ids, and what /v1/model says."""

from __future__ import annotations

import base64

import cv2
import numpy as np

from segnet.service.errors import ApiError

FORMATS = ("png", "overlay", "json")


def encode_png(array: np.ndarray) -> bytes:
    """PNG bytes of HxW ids (exact values) or HxWx3 RGB."""
    bgr = cv2.cvtColor(array, cv2.COLOR_RGB2BGR) if array.ndim == 3 else array
    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise ApiError(500, "PNG encoding failed")
    return data.tobytes()


def class_fractions(ids: np.ndarray, names: tuple[str, ...]) -> list[dict]:
    counts = np.bincount(ids.ravel(), minlength=len(names))
    return [{"id": i, "name": name, "fraction": round(float(counts[i]) / ids.size, 6)} for i, name in enumerate(names)]


def render(model, frame: np.ndarray, ids: np.ndarray, format: str, legend: bool, opacity: float):
    """(body, media type): the label map PNG, the overlay PNG, or a JSON dict."""
    if format == "png":
        return encode_png(ids), "image/png"
    if format == "overlay":
        return encode_png(model.overlay(frame, ids, opacity=opacity, legend=legend)), "image/png"
    return {"width": int(ids.shape[1]), "height": int(ids.shape[0]),
            "classes": class_fractions(ids, model.classes.names),
            "labels_png": base64.b64encode(encode_png(ids)).decode("ascii")}, "application/json"


def model_info(model) -> dict:
    """Name, classes with their colours, ignore id, training frame size, backend and precision."""
    classes = model.classes
    frame = model.card.frame_size
    return {
        "model": model.name,
        "description": model.describe(),
        "classes": [{"id": i, "name": name, "color": [int(v) for v in colour]}
                    for i, (name, colour) in enumerate(zip(classes.names, classes.colors))],
        "ignore_id": classes.ignore_index,
        "ignore_name": classes.ignore_name,
        "training_frame_size": None if frame is None else {"height": frame[0], "width": frame[1]},
        "backend": model.backend,
        "precision": model.precision,
    }
