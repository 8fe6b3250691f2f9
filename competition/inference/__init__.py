"""Inference: running a trained model, whoever trained it.

config     InferenceConfig, the typed contract train writes and predict reads
engines    the engine registry (keras): load a trained model's members
ensemble   test-time shifts and averaging over members, engine-neutral
predictor  members + class order + shifts + the task's calibrated decision
"""
