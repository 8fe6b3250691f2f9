"""The listening head: a command's score as the odds, on the network's own embedding, that the window
holds that command rather than a word that is no command.

The softmax of a network trained on 1-second clips says which of its classes a clip is most like, and
it is often near certain for a word it never heard ("dog" heard as down at 0.9999). A second look
at the embedding the softmax reads (its penultimate layer) separates them better: each class's
training clips are summarised by their mean and one covariance shared by all classes (linear
discriminant analysis, as in Lee et al., "A simple unified framework for detecting out-of-distribution
samples", 2018), and a command's score is the logistic of its log-likelihood ratio against `unknown`,
scaled by TEMPERATURE. A window farther from the command's mean (Mahalanobis distance) than RADIUS_QUANTILE
of the training commands are from theirs scores 0 for it: such a window is like no command clip heard.
Silence and unknown keep the softmax's probabilities, so a window the network calls unknown is never
reported. The head is fitted after training (numpy, on the cached training features) and saved inside a
listening model of its own, so every engine and the export run it as they run the trained model.
"""
from __future__ import annotations

import dataclasses
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
# The gate's radius: the squared distance within which this share of the training command clips lie
# from their own command's mean (a quantile rather than the farthest clip, which one outlier sets).
RADIUS_QUANTILE = 0.999
HEAD_NAME = "open_set_scores"


@dataclasses.dataclass(frozen=True)
class Head:
    """What the listening head is fitted to: the discriminants, the shared precision and the gate."""

    weights: np.ndarray    # (dims, classes): each class's discriminant, g = embedding @ weights + offsets
    offsets: np.ndarray    # (classes,)
    precision: np.ndarray  # (dims, dims): the shared covariance's inverse
    radius: float          # squared Mahalanobis distance beyond which a command's window scores 0


def squared_distances(embeddings: np.ndarray, head: Head) -> np.ndarray:
    """(n, classes) squared Mahalanobis distances to each class's mean: e'Pe - 2 g, since g holds
    e'P mean - mean'P mean / 2."""
    embeddings = np.asarray(embeddings, np.float64)
    quadratic = np.einsum("nd,de,ne->n", embeddings, head.precision, embeddings)
    return quadratic[:, None] - 2 * (embeddings @ head.weights + head.offsets)


def fit_head(embeddings: np.ndarray, classes: np.ndarray, n_classes: int, commands: Sequence[bool]) -> Head:
    """The head of these training embeddings and their class numbers; `commands` marks the classes the
    listener reports."""
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
    head = Head(weights, offsets, precision, 0.0)
    own = squared_distances(embeddings, head)[np.arange(len(classes)), classes]
    radius = float(np.quantile(own[np.asarray(commands)[classes]], RADIUS_QUANTILE))
    return dataclasses.replace(head, radius=radius)


@keras.saving.register_keras_serializable(package="competition")
class OpenSetScores(layers.Layer):
    """[embedding, probabilities] -> scores: each command's logistic odds against `unknown` (0 beyond the
    radius), the other classes' probabilities as they are."""

    def __init__(self, n_dims: int, unknown: int, commands: Sequence[bool], temperature: float = TEMPERATURE,
                 **kwargs):
        super().__init__(**kwargs)
        self.n_dims, self.unknown, self.commands = n_dims, unknown, [bool(c) for c in commands]
        self.temperature = float(temperature)
        n_classes = len(self.commands)
        self.discriminants = self.add_weight(shape=(n_dims, n_classes), initializer="zeros", trainable=False,
                                             name="discriminants")
        self.offsets = self.add_weight(shape=(n_classes,), initializer="zeros", trainable=False, name="offsets")
        self.precision = self.add_weight(shape=(n_dims, n_dims), initializer="zeros", trainable=False,
                                         name="precision")
        self.radius = self.add_weight(shape=(1,), initializer="zeros", trainable=False, name="radius")

    def call(self, inputs):
        embedding, probabilities = inputs
        scores = ops.matmul(embedding, self.discriminants) + self.offsets
        odds = ops.sigmoid((scores - scores[:, self.unknown:self.unknown + 1]) / self.temperature)
        quadratic = ops.sum(ops.matmul(embedding, self.precision) * embedding, axis=1, keepdims=True)
        near = ops.cast(quadratic - 2.0 * scores <= self.radius, odds.dtype)
        # a product and a sum rather than a select: the int8 export keeps them in float, where a select's
        # inputs would be forced onto one 8-bit scale
        is_command = ops.convert_to_tensor([float(c) for c in self.commands])[None, :]
        return odds * near * is_command + probabilities * (1.0 - is_command)

    def compute_output_shape(self, input_shape):
        return input_shape[1]

    def get_config(self):
        return {**super().get_config(), "n_dims": self.n_dims, "unknown": self.unknown, "commands": self.commands,
                "temperature": self.temperature}


def listening_model(model: keras.Model, head: Head, unknown: int, commands: Sequence[bool]) -> keras.Model:
    """The trained model with the head on its last Dense layer's input: audio features in, scores out."""
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    if not dense:
        raise ValueError(f"model {model.name}: expected a model that ends in a Dense layer")
    layer = OpenSetScores(head.weights.shape[0], unknown, commands, name=HEAD_NAME)
    scores = layer([dense[-1].input, model.output])
    layer.set_weights([head.weights.astype(np.float32), head.offsets.astype(np.float32),
                       head.precision.astype(np.float32), np.array([head.radius], np.float32)])
    return keras.Model(model.inputs, scores, name=f"{model.name}_listening")
