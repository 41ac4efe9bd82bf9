"""The inference pipeline: predict, evaluate, export, video, visualisation, the bundled model."""
