"""The training pipeline: batches, losses, optimiser, the Trainer loop, run folders, DDP."""
