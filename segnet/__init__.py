"""segnet: semantic segmentation with densely connected networks."""

__version__ = "0.1.0"
