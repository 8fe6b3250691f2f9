"""TensorFlow Lite conversion: builtin ops only, float32, and int8 with the front end in float.

int8 uses TensorFlow's post-training integer quantisation, calibrated on clips of audio; the
front end is kept out of it with the quantisation debugger's deny list (TensorFlow's documented
way to quantise selectively), because 8 bits cannot carry a waveform's or a power spectrum's
range: a quiet clip would round to a few levels, and power spans ten decades.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import tensorflow as tf

from ..core.native import native_output_logged

log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet_conversion() -> Iterator[None]:
    """The converter's chatter, known harmless, out of the run's log (kept at debug level): its
    C++ progress lines, absl's "Using new converter" notice, the warning that the float input
    has no quantisation statistics (it stays float on purpose), and the deprecation of
    tf.lite.Interpreter, which the quantisation debugger uses internally."""
    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings(), native_output_logged(log):
            warnings.filterwarnings("ignore", message="Statistics for quantized inputs were expected")
            warnings.filterwarnings("ignore", message=r"\s*Warning: tf.lite.Interpreter is deprecated")
            yield
    finally:
        absl.setLevel(level)


def _converter(function) -> tf.lite.TFLiteConverter:
    # the function is frozen (no variables), so any trackable holder will do; without one the
    # converter warns that it takes a deprecated path
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf.Module())
    # builtin ops only: the plain interpreter on a device runs the file, with no select-ops
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def to_float(function) -> bytes:
    with quiet_conversion():
        return _converter(function).convert()


def to_int8(function, calibration: np.ndarray, float_name_parts: list[str],
            float_ops: tuple[str, ...] = ()) -> bytes:
    """The network in int8 (inputs and outputs stay float32): every op whose tensors' names
    contain one of `float_name_parts`, and every op of a type in `float_ops`, stays float."""
    def clips() -> Iterator[list[np.ndarray]]:
        for clip in calibration:
            yield [clip[None].astype(np.float32)]

    converter = _converter(function)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = clips
    names = tensor_names(to_float(function))
    denied = [name for name in names if any(part in name for part in float_name_parts)]
    log.info("int8: %d of %d tensors kept in float (the front end)", len(denied), len(names))
    with quiet_conversion():
        debugger = tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=clips,
            debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=denied,
                                                                        denylisted_ops=list(float_ops)))
        return debugger.get_nondebug_quantized_model()


def tensor_names(flatbuffer: bytes) -> list[str]:
    return [detail["name"] for detail in _interpreter(flatbuffer).get_tensor_details()]


def ops(flatbuffer: bytes) -> list[tuple[str, str]]:
    """(op name, the dtype it computes in) for each op, in order; QUANTIZE/DEQUANTIZE are the seams."""
    interpreter = _interpreter(flatbuffer)
    dtypes = {detail["index"]: np.dtype(detail["dtype"]).name for detail in interpreter.get_tensor_details()}
    return [(op["op_name"], dtypes.get(op["outputs"][0], "?") if len(op["outputs"]) else "?")
            for op in interpreter._get_ops_details()]  # noqa: SLF001 - the interpreter's only op listing


def _interpreter(flatbuffer: bytes):
    from ai_edge_litert.interpreter import Interpreter

    with native_output_logged(log):
        return Interpreter(model_content=flatbuffer)
