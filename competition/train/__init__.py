"""Training: the train stage (trainer), its input pipeline and augmentation, checkpoints that
resume a killed run, and the calibration of the task's decision on validation."""
