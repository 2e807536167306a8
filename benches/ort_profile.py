#!/usr/bin/env python3
"""Per-op-type profile of onnxruntime on a DAEFR model (compare with `daefr inspect --profile`).

    python3 benches/ort_profile.py [MODEL.onnx] [--runs 20] [--warmup 5] [--threads 1] [--json OUT]

Creates a session with onnxruntime's own profiler (`SessionOptions.enable_profiling = True`,
`intra_op_num_threads = --threads`, default graph optimisations), runs `--warmup` inferences,
then `--runs` timed inferences on one random face (`input` [1,3,S,S] in -1..1, `weight` = 0.4).
The JSON trace is parsed: node events (`cat == "Node"`, names ending in `_kernel_time`) are summed
per `args.op_name`, counting only those from the timed runs (the last `--runs` `model_run`
events), and divided by `--runs`. Prints ms per face per op type, the node count per op type,
the sum over nodes, and the mean `model_run` wall time. `--json` also writes the table.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", nargs="?", default=str(ROOT / "models/daefr-lite-128.onnx"))
    ap.add_argument("--runs", type=int, default=20, help="timed inferences (default 20)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed inferences first (default 5)")
    ap.add_argument("--threads", type=int, default=1, help="intra_op_num_threads (default 1)")
    ap.add_argument("--weight", type=float, default=0.4, help="fidelity input (default 0.4)")
    ap.add_argument("--json", help="also write {op: ms/face} here")
    ap.add_argument("--keep-trace", action="store_true", help="keep onnxruntime's trace file")
    a = ap.parse_args()

    so = ort.SessionOptions()
    so.enable_profiling = True
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.profile_file_prefix = "/tmp/ort_profile"
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    size = inp.shape[-1] if isinstance(inp.shape[-1], int) else 128
    rng = np.random.default_rng(0)
    feeds = {inp.name: rng.uniform(-1, 1, (1, 3, size, size)).astype(np.float32)}
    for i in sess.get_inputs()[1:]:
        feeds[i.name] = np.array([a.weight], np.float32)
    for _ in range(a.warmup):
        sess.run(None, feeds)
    for _ in range(a.runs):
        sess.run(None, feeds)
    trace = sess.end_profiling()
    events = json.load(open(trace))

    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    timed = runs[-a.runs:]
    t0 = timed[0]["ts"]
    per_op: dict[str, float] = defaultdict(float)
    count: dict[str, int] = defaultdict(int)
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if e["ts"] < t0:
            continue
        op = e.get("args", {}).get("op_name", "?")
        per_op[op] += e["dur"] / 1000.0 / a.runs
        count[op] += 1
    total = sum(per_op.values())
    wall = sum(e["dur"] for e in timed) / 1000.0 / len(timed)
    print(f"onnxruntime {ort.__version__}, {a.threads} thread(s), {a.runs} runs after "
          f"{a.warmup} warm-up: model_run {wall:.3f} ms/face, sum over nodes {total:.3f} ms/face")
    print(f"{'op type':<28}{'nodes':>6}{'ms/face':>10}{'share':>8}")
    for op, ms in sorted(per_op.items(), key=lambda kv: -kv[1]):
        print(f"{op:<28}{count[op] // a.runs:>6}{ms:>10.3f}{100 * ms / total:>7.1f}%")
    if a.json:
        Path(a.json).write_text(json.dumps({"model_run_ms": wall, "ops": per_op}, indent=1))
    if a.keep_trace:
        print(f"trace: {trace}", file=sys.stderr)
    else:
        os.remove(trace)
    return 0


if __name__ == "__main__":
    sys.exit(main())
