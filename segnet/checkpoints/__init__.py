"""What a trained model is on disk: checkpoints (.pt, sharded), their model card, exported files'
metadata, and where a model named by the user comes from (bundled, run name, run folder, file)."""
