"""Predict: the predict stage (a submission for the test clips) and --classify (any WAV files),
both through inference.Predictor."""
