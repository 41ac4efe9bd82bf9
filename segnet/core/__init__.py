"""The ground floor, importing no other segnet folder: default locations, every enumerated choice,
atomic writes, devices and precision, metrics."""
