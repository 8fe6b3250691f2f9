"""A polyphase resampler that keeps its state across blocks.

It computes what `scipy.signal.resample_poly(x, up, down)` computes for the whole signal (the
same Kaiser-windowed FIR low-pass, the same centring, zeros outside the signal), but block by
block and in numpy alone, so that a device without scipy resamples as the pipeline does. It
keeps only the last filter's length of input, so memory and work per second stay constant over
an hour of audio, and the outputs lie on the same time grid whatever the block sizes.
"""
from __future__ import annotations

import math

import numpy as np


def lowpass(taps: int, cutoff: float, beta: float = 5.0) -> np.ndarray:
    """A Kaiser-windowed sinc low-pass of unit gain at 0 Hz, `cutoff` a fraction of Nyquist: what
    `scipy.signal.firwin(taps, cutoff, window=("kaiser", beta))` designs (resample_poly's filter)."""
    middle = np.arange(taps) - (taps - 1) / 2
    h = cutoff * np.sinc(cutoff * middle) * np.kaiser(taps, beta)
    return h / h.sum()


class StreamResampler:
    """Feed blocks of samples at `source_rate`, get blocks at `target_rate`; `flush` at the end."""

    def __init__(self, source_rate: int, target_rate: int) -> None:
        if source_rate <= 0 or target_rate <= 0:
            raise ValueError(f"sample rates must be positive; got {source_rate} and {target_rate}")
        divisor = math.gcd(source_rate, target_rate)
        self.up, self.down = target_rate // divisor, source_rate // divisor
        self.passthrough = self.up == self.down == 1
        self.received = 0                       # input samples seen
        self.produced = 0                       # output samples given
        if self.passthrough:
            return
        max_rate = max(self.up, self.down)
        self.delay = 10 * max_rate  # the filter's half length, as resample_poly designs it
        taps = lowpass(2 * self.delay + 1, 1.0 / max_rate) * self.up
        # Phase p of the polyphase filter holds taps p, p + up, p + 2 up, ...; padded with zeros to
        # one length so that every output is one dot product over the same number of inputs.
        self.width = -(-len(taps) // self.up)
        padded = np.zeros(self.width * self.up)
        padded[:len(taps)] = taps
        self.phases = padded.reshape(self.width, self.up).T.astype(np.float32)  # (up, width)
        self.history = np.zeros(self.width - 1, np.float32)  # the inputs before the first: zeros
        self.history_start = -(self.width - 1)  # absolute index of history[0]

    def _outputs(self, last: int) -> np.ndarray:
        """Outputs `produced` .. `last - 1`, from the inputs held (zeros past the end)."""
        k = np.arange(self.produced, last, dtype=np.int64)
        position = k * self.down + self.delay   # in the upsampled signal
        newest = position // self.up             # the newest input each output reads
        phase = position % self.up
        index = newest[:, None] - np.arange(self.width)[None, :] - self.history_start
        gathered = np.take(self.history, index, mode="clip")
        gathered[index >= len(self.history)] = 0.0  # past the end of the signal (flush)
        self.produced = last
        return np.einsum("ij,ij->i", gathered, self.phases[phase]).astype(np.float32)

    def _trim(self) -> None:
        """Keep only the inputs a future output can still read."""
        oldest_needed = (self.produced * self.down + self.delay) // self.up - (self.width - 1)
        drop = max(0, oldest_needed - self.history_start)
        if drop:
            self.history = self.history[drop:]
            self.history_start += drop

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, np.float32)
        if self.passthrough:
            return block
        self.history = np.concatenate([self.history, block])
        self.received += len(block)
        # an output is ready once the newest input it reads has arrived
        ready = (self.received * self.up - self.delay + self.down - 1) // self.down
        ready = max(ready, self.produced)
        out = self._outputs(ready)
        self._trim()
        return out

    def flush(self) -> np.ndarray:
        """The outputs still owed: resample_poly gives ceil(received * up / down) in all."""
        if self.passthrough:
            return np.zeros(0, np.float32)
        total = -(-self.received * self.up // self.down)
        return self._outputs(max(total, self.produced))


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """A whole signal at another rate: what resample_poly gives, to float32 rounding."""
    resampler = StreamResampler(source_rate, target_rate)
    return np.concatenate([resampler.process(samples), resampler.flush()])
