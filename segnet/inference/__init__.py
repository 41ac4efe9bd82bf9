"""Frames to class ids on a runtime it is given: preprocessing (the one copy), the runtimes, the
buffered FC-DenseNet forward, padding and tiling, the Predictor."""
