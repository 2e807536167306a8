#!/usr/bin/env python3
"""Time tract (the `daefr` binary) and onnxruntime on the same ONNX model in one run.

    cargo build --release
    python3 benches/side_by_side.py [MODEL.onnx] [--iters 20] [--threads 1] [--rounds 3]

Each round runs `daefr bench-model MODEL --no-cache` (load + optimize once, warm-up, then
`--iters` timed runs of the network alone on one face) and then onnxruntime (default graph
optimisations, `intra_op_num_threads = --threads`, same warm-up and iteration count). Rounds
alternate the two so drift hits both. Prints per-round medians, the overall median of each and
the ratio tract / onnxruntime (below 1.0 means tract is faster). Also times ONNX vs NNEF load.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]


def tract_once(binary: Path, model: Path, iters: int, threads: int, warmup: int, cache: bool) -> dict:
    cmd = [str(binary), "--threads", str(threads), "bench-model", str(model),
           "--iters", str(iters), "--warmup", str(warmup)]
    if not cache:
        cmd.append("--no-cache")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def ort_once(model: Path, iters: int, threads: int, warmup: int) -> dict:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    start = time.perf_counter()
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    load_ms = (time.perf_counter() - start) * 1e3
    inp = sess.get_inputs()[0]
    size = inp.shape[-1]
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)
    feeds = {inp.name: x}
    for extra in sess.get_inputs()[1:]:  # contract 2: fidelity `weight` [1], model default 0.4
        feeds[extra.name] = np.array([0.4], np.float32)
    for _ in range(warmup):
        sess.run(None, feeds)
    runs = []
    for _ in range(iters):
        t = time.perf_counter()
        sess.run(None, feeds)
        runs.append((time.perf_counter() - t) * 1e3)
    return {"load_ms": load_ms, "median_ms": statistics.median(runs), "min_ms": min(runs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models" / "daefr-lite-128.onnx"))
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--binary", default=str(ROOT / "target" / "release" / "daefr"))
    args = ap.parse_args()
    model, binary = Path(args.model), Path(args.binary)
    if not binary.is_file():
        print(f"{binary}: not built; run `cargo build --release` first", file=sys.stderr)
        return 1

    print(f"model {model} ({model.stat().st_size / 1e6:.1f} MB), {args.threads} thread(s), "
          f"{args.iters} iters x {args.rounds} rounds; onnxruntime {ort.__version__}; cpu: "
          f"{os.cpu_count()} logical")
    tract_medians, ort_medians = [], []
    for r in range(args.rounds):
        t = tract_once(binary, model, args.iters, args.threads, args.warmup, cache=False)
        o = ort_once(model, args.iters, args.threads, args.warmup)
        tract_medians.append(t["median_ms"])
        ort_medians.append(o["median_ms"])
        print(f"round {r + 1}: tract {t['median_ms']:.1f} ms (load+optimize {t['load_ms']:.0f} ms)"
              f"  onnxruntime {o['median_ms']:.1f} ms (session {o['load_ms']:.0f} ms)")
    tm, om = statistics.median(tract_medians), statistics.median(ort_medians)
    print(f"median per face: tract {tm:.1f} ms, onnxruntime {om:.1f} ms, "
          f"ratio tract/onnxruntime = {tm / om:.2f}x")

    # Start-up: ONNX vs NNEF cache, both through `daefr bench-model` (load + optimize).
    with tempfile.TemporaryDirectory() as tmp:
        nnef = Path(tmp) / (model.stem + ".nnef.tar")
        subprocess.run([str(binary), "convert", str(model), "-o", str(nnef)], check=True,
                       capture_output=True)
        onnx_loads, nnef_loads = [], []
        for _ in range(args.rounds):
            onnx_loads.append(tract_once(binary, model, 1, args.threads, 0, cache=False)["load_ms"])
            nnef_loads.append(tract_once(binary, nnef, 1, args.threads, 0, cache=True)["load_ms"])
    print(f"load + optimize: ONNX {statistics.median(onnx_loads):.0f} ms, "
          f"NNEF {statistics.median(nnef_loads):.0f} ms (medians of {args.rounds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
