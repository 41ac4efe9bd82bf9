"""Training, evaluation, prediction and export: everything that runs a model."""
