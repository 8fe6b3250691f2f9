"""The audio-in model: one second of 16 kHz audio in, the class probabilities out.

The front end (frontend.graph: decimation to the target rate, none at the default 16 kHz; the framed DFT as matmuls, the
log) runs under one name scope, so the int8 conversion can keep it in float; then the trained
network(s), averaged when there are several members.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from ..core.config import WAVE
from ..frontend import graph as frontend
from ..frontend.layers import LogMel
from ..inference.config import InferenceConfig

FRONTEND_SCOPE = "frontend"


def audio_model(members: list[keras.Model], config: InferenceConfig):
    """A frozen concrete function (batch, clip_samples) float32 -> (batch, classes) float32."""
    audio = config.audio

    @tf.function(input_signature=[tf.TensorSpec([None, audio.clip_samples], tf.float32, name="audio")])
    def serve(clips):
        with tf.name_scope(FRONTEND_SCOPE):
            features = frontend.decimate(clips, audio)
            if config.features != WAVE:
                features = frontend.log_spectrogram_of_resampled(features, audio)
        outputs = [member(features, training=False) for member in members]
        return outputs[0] if len(outputs) == 1 else tf.add_n(outputs) / len(outputs)

    # constants, not variables: TFLite folds batch normalisation into them and needs no state
    return convert_variables_to_constants_v2(serve.get_concrete_function())


def float_front_layers(members: list[keras.Model]) -> list[str]:
    """Names of the model's own front-end layers (log-mel, MFCC): power spectra in, 8 bits out of range."""
    return [layer.name for member in members for layer in member.layers if isinstance(layer, LogMel)]
