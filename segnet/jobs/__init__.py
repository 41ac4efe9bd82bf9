"""The work that reads inputs and writes files: predict, evaluate, demo and what they share
(input collection, video I/O, staged all-or-nothing outputs, overlays)."""
