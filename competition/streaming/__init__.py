"""Streaming: find the commands in a long recording or a live stream (`--listen`).

Audio arrives in blocks (`sources`: a file of any format, rate and channels, or raw 16 kHz
16-bit PCM on standard input), is brought to the model's rate by a resampler that keeps its
state across blocks (`resample`), is cut into overlapping one-second windows that a
`Predictor` scores, and a recogniser averages the scores over time, applies the threshold and
suppresses repeats (`recognizer`). `listen` ties them together and writes the detections.
Memory and work per second of audio stay constant however long the input.
"""
