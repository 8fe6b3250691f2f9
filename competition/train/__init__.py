"""Training: the train stage (`stage.train`), in rooms of one concern each: the caches it reads
(data), the input pipeline (pipeline) with its augmentation (augmentation), where it runs
(strategies), one member's epochs (loop), checkpoints that resume a killed run (checkpoints), and the
calibration of the task's decision on validation (calibration, with verification on unseen speakers in
unseen)."""
