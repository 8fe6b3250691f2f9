"""Side stage export: the trained model as one folder a device runs alone: TensorFlow Lite files that
take audio, the labels, and export.json (how to feed them, decide and listen; every file's digest)."""
from __future__ import annotations

import hashlib
import logging

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import PipelineError
from ..core.config import ExportConfig, ListenConfig
from ..core.io import atomic_dir
from ..core.labels import read_labels
from ..core.paths import Paths
from ..data.features import load_source, table_sources
from ..device.folder import LISTEN_FIELDS, LISTENING, POINTS_FILE, ExportInfo
from ..device.operating_point import resolve
from ..inference.config import InferenceConfig
from ..inference.engines import get_engine
from ..inference.tflite import model_digests
from ..models.open_set import HEAD_NAME
from ..tasks import get_task
from .convert import ops, to_float, to_int8
from .graph import FRONTEND_SCOPE, audio_model, float_front_layers

log = logging.getLogger(__name__)

SEAMS = ("QUANTIZE", "DEQUANTIZE")
# The ops that make the scores stay float (the listening head's own ops by their names): an 8-bit
# output moves in steps of 1/256, so it never passes 255/256, and the listener's thresholds sit above that.
FLOAT_OUTPUT_OPS = ("SOFTMAX", "LOGISTIC")


def export(paths: Paths, config: ExportConfig) -> None:
    inference = InferenceConfig.load(paths.inference_config)
    labels = read_labels(paths.labels_file, get_task(inference.task).labels)
    calibration = calibration_clips(paths, inference, config)
    contents, files, float_ops = {}, {}, ()
    # the model itself, and the same with the listening head (which the listener runs) where it has one
    for listening in (False, True) if inference.listen_members else (False,):
        members = [member.model for member in get_engine("keras").load(paths, inference, listening)]
        function = audio_model(members, inference)
        float_model = to_float(function)
        int8_model = to_int8(function, calibration, [FRONTEND_SCOPE, *float_front_layers(members), HEAD_NAME],
                             FLOAT_OUTPUT_OPS)
        for engine, int8, data in (("tflite", False, float_model), ("tflite-int8", True, int8_model)):
            name = paths.exported_model(int8, listening).name
            contents[name], files[LISTENING + engine if listening else engine] = data, name
        if not listening:
            float_ops = tuple(dict.fromkeys(name for name, dtype in ops(int8_model)
                                            if dtype == "float32" and name not in SEAMS))
    contents.update({paths.export_labels.name: paths.labels_file.read_bytes(),
                     POINTS_FILE: paths.operating_points.read_bytes()})
    listen, operating_point = resolve(ListenConfig(engine="tflite-int8", **{name: getattr(config, name)
                                                                            for name in LISTEN_FIELDS}),
                                      paths.operating_points)
    task = get_task(inference.task)
    info = ExportInfo(source=model_digests(paths, inference), sample_rate=inference.audio.sample_rate,
                      clip_samples=inference.audio.clip_samples, labels=tuple(labels), files=files,
                      digests={name: hashlib.sha256(data).hexdigest() for name, data in contents.items()},
                      float_ops_int8=float_ops, tta_shifts=inference.audio_shifts(),
                      unknown_threshold=inference.unknown_threshold, silence_label=task.silence_label,
                      unknown_label=task.unknown_label, listen={name: getattr(listen, name) for name in LISTEN_FIELDS})
    with atomic_dir(paths.export_dir) as folder:  # a killed export leaves no folder an engine trusts
        for name, data in contents.items():
            (folder / name).write_bytes(data)
        (folder / paths.export_readme.name).write_text(readme(info, inference, {n: len(d) for n, d in contents.items()},
                                                              operating_point))
        info.save(folder / paths.export_info.name)
    log.info("wrote %s", ", ".join(f"{paths.export_dir / name} ({len(contents[name]) / 1e3:.0f} KB)"
                                   for name in files.values()))
    log.info("int8 keeps in float: %s", ", ".join(float_ops))


def calibration_clips(paths: Paths, inference: InferenceConfig, config: ExportConfig) -> np.ndarray:
    """A seeded sample of the training clips the model learnt from (words, silence, unknowns)."""
    try:
        table = pd.read_csv(paths.feature_table("train"), keep_default_na=False)
    except FileNotFoundError as error:
        raise PipelineError(f"{paths.feature_table('train')} is missing: the int8 export is calibrated on "
                            "training clips; run --stage features first") from error
    table = table[table["readable"].astype(bool)]
    sample = table.sample(min(config.calibration_clips, len(table)), random_state=config.seed)
    sources = table_sources(paths, sample)
    return np.stack([load_source(source, inference.audio)
                     for source in tqdm(sources, desc="int8 calibration clips", unit="clip")])


def _below_threshold(info) -> str:
    """How the unknown threshold decides, for a task with an unknown class; nothing for the others."""
    if info.unknown_label is None:
        return ""
    return (f", or `{info.unknown_label}` when the highest probability is below {info.unknown_threshold:.2f} "
            f"(the threshold calibrated on validation)")


def _resampling(inference: InferenceConfig) -> str:
    audio = inference.audio
    if audio.sample_rate == audio.target_rate:
        return ""
    return (f"a {audio.sample_rate} Hz -> {audio.target_rate} Hz windowed-sinc low-pass and decimation "
            "(a convolution), ")


def _pause(listen: dict) -> str:
    pause = listen.get("listen_pause_ms", 0)
    return (f"only commands heard as a whole word, with {pause} ms of quiet before and after" if pause
            else "commands heard anywhere")


def _listening_rows(info: ExportInfo, sizes: dict[str, int]) -> str:
    """The table's rows of the files with the listening head, where the export has them."""
    return "".join(f"| `{info.files[LISTENING + engine]}` | {sizes[info.files[LISTENING + engine]]:,} | {what} with "
                   f"the listening head: each command's score is its odds against `unknown`, which `listen` "
                   f"thresholds |\n"
                   for engine, what in (("tflite", "the model"), ("tflite-int8", "the int8 model"))
                   if LISTENING + engine in info.files)


def readme(info: ExportInfo, inference: InferenceConfig, sizes: dict[str, int], operating_point: str) -> str:
    labels, float_ops = ", ".join(info.labels), ", ".join(info.float_ops_int8)
    float_bytes, int8_bytes = sizes[info.files["tflite"]], sizes[info.files["tflite-int8"]]
    listen = info.listen
    return f"""# The exported model

This folder is all a device needs: copy it whole. `export.json` describes it (how to feed the
models, decide and listen, and every file's sha256, checked before a file is run).

| file | bytes | what it is |
|---|---|---|
| `{info.files['tflite']}` | {float_bytes:,} | the model, float32 |
| `{info.files['tflite-int8']}` | {int8_bytes:,} | the network in int8 (weights, activations); in float: {float_ops} |
{_listening_rows(info, sizes)}| `labels.txt` | | the output's classes, in order |
| `export.json` | | rate, clip length, test-time shifts, unknown threshold, the listener's settings, digests |
| `{POINTS_FILE}` | | the listener's false accepts an hour and commands missed at each threshold |

## Run it on a device (numpy and LiteRT, no TensorFlow)

```sh
python3 -m venv ~/kws && ~/kws/bin/pip install path/to/the/repository   # numpy and ai-edge-litert only
~/kws/bin/python -m competition.device classify FOLDER a.wav b.wav
arecord -t raw -f S16_LE -r {info.sample_rate} -c 1 | ~/kws/bin/python -m competition.device listen FOLDER -
```

`classify` prints `a.wav: yes (yes 0.912, unknown 0.041, no 0.020)` (the label, then the three most
probable classes); `listen` prints a line per command heard, `      3.40 s  yes    0.873` (when it was
recognised, the label, its averaged score), and with `--detections out.csv` also writes them.
Input: 16-bit PCM WAV files, or raw 16-bit little-endian mono PCM on standard input at `--rate`
(default {info.sample_rate} Hz; other rates are resampled). The listener: a one-second window every
{listen['listen_hop_ms']} ms, scores averaged over {listen['listen_average_ms']} ms, no detection within
{listen['listen_suppression_ms']} ms of the last, a wait of up to {listen['listen_peak_ms']} ms for the peak,
{_pause(listen)}, and its operating point: {operating_point}. `listen --false-accepts-per-hour N` chooses another from
`{POINTS_FILE}` (measured with the trained model, before int8).

## The models

**In**: float32, shape `(batch, {info.clip_samples})`: one second of mono audio at {info.sample_rate} Hz, samples
scaled to [-1, 1] (16-bit PCM divided by 32768). Pad shorter clips with zeros, cut longer ones. The batch
dimension is free (resize the input tensor); a device usually runs 1.

**Out**: float32, shape `(batch, {len(info.labels)})`: probabilities of the classes in `labels.txt` order:
{labels}.

**Inside**: builtin ops only (the plain interpreter runs them: no select-ops, no code of this project).
The features stage's front end: {_resampling(inference)}{inference.audio.window_ms:g} ms Hann frames every
{inference.audio.step_ms:g} ms, their DFT as matrix products, the log of the power spectrum, then the network.
The int8 file keeps that front end, and the model's own log-mel layer, in float: 8 bits cannot carry a
waveform's range (a quiet clip would round to a few levels) nor a power spectrum's ten decades.

**Deciding**: the label is the most probable class{_below_threshold(info)}; the probabilities are averaged
over the clip shifted by {', '.join(str(s) for s in info.tta_shifts)} samples (test-time shifts; zeros fill
the gap). `python -m competition.device classify` does both, as `python run.py --classify --engine tflite-int8`.

```python
from ai_edge_litert.interpreter import Interpreter  # or tf.lite.Interpreter
interpreter = Interpreter(model_path="{info.files['tflite-int8']}")
interpreter.allocate_tensors()
interpreter.set_tensor(interpreter.get_input_details()[0]["index"], clip.reshape(1, {info.clip_samples}))
interpreter.invoke()
probabilities = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])[0]
```
"""
