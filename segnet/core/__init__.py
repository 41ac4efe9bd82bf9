"""Pieces both pipelines share: checkpoints, devices and precision, metrics, the forward pass."""
