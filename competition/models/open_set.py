"""The listening head: a command's score as the odds, on the network's own embedding, that the window
holds that command rather than a word that is no command.

The softmax of a network trained on 1-second clips says which of its classes a clip is most like, and
it is often near certain for a word it never heard ("dog" heard as down at 0.9999). A second look
at the embedding the softmax reads (its penultimate layer) separates them better: each class's
training clips are summarised by their mean and one covariance shared by all classes (linear
discriminant analysis, as in Lee et al., "A simple unified framework for detecting out-of-distribution
samples", 2018), and a command's score is the logistic of its log-likelihood ratio against `unknown`,
scaled by TEMPERATURE. Silence and unknown keep the softmax's probabilities, so a window the network
calls unknown is never reported. The head is fitted after training (numpy, on the cached training
features) and saved inside a listening model of its own, so every engine and the export run it as
they run the trained model.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

# The log-likelihood ratios run to hundreds; divided by this they stay below the logistic's flat top
# over the range where the listener's thresholds fall (chosen with the validation streams).
TEMPERATURE = 5.0
# Added to the shared covariance's diagonal, relative to its mean variance: an embedding of a
# few hundred clips a class is rank-deficient without it.
RIDGE = 1e-3
HEAD_NAME = "open_set_scores"


def fit_discriminants(embeddings: np.ndarray, classes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(weights (dims, classes), offsets (classes,)) of each class's linear discriminant: the class's
    Gaussian log-likelihood, up to a term every class shares, under one shared covariance."""
    embeddings = np.asarray(embeddings, np.float64)
    if missing := sorted(set(range(n_classes)) - set(np.unique(classes).tolist())):
        raise ValueError(f"no training clips of classes {missing}: every class needs some to fit its mean")
    means = np.stack([embeddings[classes == k].mean(axis=0) for k in range(n_classes)])
    centred = embeddings - means[classes]
    covariance = centred.T @ centred / len(centred)
    covariance += RIDGE * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    precision = np.linalg.inv(covariance)
    weights = precision @ means.T
    offsets = -0.5 * np.einsum("kd,dk->k", means, weights)
    return weights.astype(np.float32), offsets.astype(np.float32)


@keras.saving.register_keras_serializable(package="competition")
class OpenSetScores(layers.Layer):
    """[embedding, probabilities] -> scores: each command's logistic odds against `unknown`, the
    other classes' probabilities as they are."""

    def __init__(self, n_dims: int, unknown: int, commands: Sequence[bool], temperature: float = TEMPERATURE,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_dims, self.unknown, self.commands = n_dims, unknown, [bool(c) for c in commands]
        self.temperature = float(temperature)
        self.discriminants = self.add_weight(shape=(n_dims, len(self.commands)), initializer="zeros",
                                             trainable=False, name="discriminants")
        self.offsets = self.add_weight(shape=(len(self.commands),), initializer="zeros", trainable=False,
                                       name="offsets")

    def call(self, inputs):
        embedding, probabilities = inputs
        scores = ops.matmul(embedding, self.discriminants) + self.offsets
        odds = ops.sigmoid((scores - scores[:, self.unknown:self.unknown + 1]) / self.temperature)
        # a product and a sum rather than a select: the int8 export keeps them in float, where a select's
        # inputs would be forced onto one 8-bit scale
        is_command = ops.convert_to_tensor([float(c) for c in self.commands])[None, :]
        return odds * is_command + probabilities * (1.0 - is_command)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "n_dims": self.n_dims, "unknown": self.unknown, "commands": self.commands,
                "temperature": self.temperature}


def listening_model(model: keras.Model, weights: np.ndarray, offsets: np.ndarray, unknown: int,
                    commands: Sequence[bool]) -> keras.Model:
    """The trained model with the head on its last Dense layer's input: audio features in, scores out."""
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name}: expected a model that ends in a Dense layer")
    head = OpenSetScores(weights.shape[0], unknown, commands, name=HEAD_NAME)
    scores = head([dense[-1].input, model.output])
    head.set_weights([weights, offsets])
    return keras.Model(model.inputs, scores, name=f"{model.name}_listening")
