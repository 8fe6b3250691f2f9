#!/usr/bin/env python
"""The exported folder as a device sees it: its files' sizes, one model's ops by type and its
multiply-accumulates, and the time one clip takes on one thread (run it under `taskset -c 0`).
`--listening` measures the file with the listening head, which `listen` runs, instead of `classify`'s.

Needs only the base install (numpy, ai-edge-litert), so it runs in the TensorFlow-free venv, and
under qemu-aarch64 (benchmarks/arm_check.sh):

    taskset -c 0 python benchmarks/device.py EXPORT_FOLDER [CLIP.wav ...] [--repeats 200] [--model float --listening]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the package beside this script when not installed

from competition.device.__main__ import Exported  # noqa: E402


def macs_by_op(path: Path) -> tuple[collections.Counter, collections.Counter, collections.Counter]:
    """(ops by type, MACs by type, MACs by the dtype the op computes in) for one clip (batch 1), of the
    file's own graph: without the XNNPACK delegate, which would replace groups of ops by DELEGATE nodes."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    interpreter.invoke()  # shapes computed at run time (the front end's frames) are known after a run
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops, macs, by_dtype = collections.Counter(), collections.Counter(), collections.Counter()
    for op in interpreter._get_ops_details():  # noqa: SLF001 - the interpreter's only op listing
        name = op["op_name"]
        ops[name] += 1
        shapes = [tuple(tensors[i]["shape"]) if i >= 0 else () for i in op["inputs"]]
        out = tuple(tensors[op["outputs"][0]]["shape"]) if len(op["outputs"]) else ()
        count = 0
        if name == "CONV_2D":  # filter (out, kh, kw, in)
            count = int(np.prod(out)) * int(np.prod(shapes[1][1:]))
        elif name == "DEPTHWISE_CONV_2D":  # filter (1, kh, kw, out)
            count = int(np.prod(out)) * shapes[1][1] * shapes[1][2]
        elif name == "FULLY_CONNECTED":  # weights (out, in); from the input: a dynamic output reads (1, out)
            count = int(np.prod(shapes[0])) * shapes[1][0]
        elif name == "BATCH_MATMUL":
            count = int(np.prod(out)) * shapes[0][-1]
        count = int(count)
        macs[name] += count
        dtype = np.dtype(tensors[op["outputs"][0]]["dtype"]).name if len(op["outputs"]) else "?"
        by_dtype[dtype] += count
    return ops, macs, by_dtype


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("clips", type=Path, nargs="*", help="WAV clips to time (default: one of noise)")
    parser.add_argument("--repeats", type=int, default=200, help="timed runs per measure (default: 200)")
    parser.add_argument("--model", choices=("int8", "float"), default="int8", help="(default: int8)")
    parser.add_argument("--listening", action="store_true",
                        help="the model file with the listening head, which `listen` runs (default: classify's)")
    args = parser.parse_args()
    model = Exported(args.folder, args.model, listening=args.listening)
    sizes = {path.name: path.stat().st_size for path in sorted(args.folder.iterdir()) if path.is_file()}
    ops, macs, by_dtype = macs_by_op(model.member.path)
    clips = ([model.load(path) for path in args.clips] or
             [np.random.default_rng(0).normal(0, 0.1, model.info.clip_samples).astype(np.float32)])
    one = np.stack(clips)[:1]
    for _ in range(10):
        model.probabilities(one, shifts=(0,))  # warm up: memory planned, caches filled
    invoke, classify, invoke_cpu = [], [], []
    for i in range(args.repeats):
        clip = np.stack(clips)[i % len(clips)][None]
        started, cpu_started = time.perf_counter(), time.process_time()
        model.probabilities(clip, shifts=(0,))
        invoke.append(time.perf_counter() - started)
        invoke_cpu.append(time.process_time() - cpu_started)
        started = time.perf_counter()
        model.decide(model.probabilities(clip))
        classify.append(time.perf_counter() - started)
    print(json.dumps({
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(), "python": platform.python_version(),
        "model": model.engine, "file": model.member.path.name, "folder_bytes": sum(sizes.values()), "file_bytes": sizes,
        "ops": dict(ops.most_common()), "ops_total": sum(ops.values()),
        "macs": {name: count for name, count in macs.most_common() if count}, "macs_total": sum(macs.values()),
        "macs_by_dtype": dict(by_dtype),
        # one window (the listener's unit), wall clock: median and fastest; CPU time, which a core shared
        # with other work inflates less; a classified clip runs the test-time shifts, one window each
        "ms_per_window": round(1e3 * statistics.median(invoke), 3), "ms_per_window_min": round(1e3 * min(invoke), 3),
        "cpu_ms_per_window": round(1e3 * statistics.median(invoke_cpu), 3),
        "ms_per_classified_clip": round(1e3 * statistics.median(classify), 3),
        "load_average": os.getloadavg()[0],
        "test_time_shifts": list(model.info.tta_shifts), "repeats": args.repeats,
    }, indent=1))


if __name__ == "__main__":
    main()
