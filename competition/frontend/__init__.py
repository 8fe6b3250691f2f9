"""The audio front end: from a recording to what a network reads.

audio      read any WAV, mix to mono, resample, pad or chop to one clip; room tone
spectral   the numpy reference that fills the feature cache (resampling, log-power spectrogram)
graph      the same front end as TensorFlow ops, held to the reference by tests (for export)
layers     the model's own front-end layers on the cached spectrogram (log-mel, the network's MFCC)
mfcc16k    the classical 16 kHz MFCCs of the baseline and the explore figures (a different definition)
"""
