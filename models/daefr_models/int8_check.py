"""Check an int8 graph against its fp32 source through the real runtime (e.g. an ARM build under qemu).

    python -m daefr_models.int8_check --fp32 M.onnx --int8 Q.onnx --data DIR --limit 32 \\
        --daefr target/aarch64-unknown-linux-gnu/release/daefr \\
        --runner "qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu" --work /tmp/int8-check

1. Takes `--limit` faces evenly spaced over `--data` (CelebA crops: centre square, bicubic to the
   model size, as training and `quantize.load_inputs`) and writes them as PNGs (aligned crops).
2. Restores them with both models: `RUNNER DAEFR restore FACES -o OUT --aligned --model M
   --no-cache --workers 1` (default fidelity unless `--fidelity`), and reports the PSNR of the int8
   output against the fp32 output per face (mean, min).
3. Code-index agreement of the two graphs under onnxruntime on the same inputs (the runtime
   cannot output the indices: its graphs have one output).
4. `RUST_LOG=tract_linalg=debug RUNNER DAEFR inspect M --profile 1` on the int8 graph and on a probe
   (the fp32 graph with every Conv as ConvInteger, so that int8 products are among the 25 slowest
   nodes `inspect` lists): the matrix kernels named there and tract's ISA / kernel-tier log line,
   so that a run under `-cpu cortex-a76` shows `arm64simd_mmm_i32_8x8_dot` (SDOT). Note
   `qemu -cpu max` also reports SVE2, and tract then prefers its SVE kernels (`sve_mmm_i32_8x8`);
   use `cortex-a76` (the Pi 5 core) or `max,sve=off,sme=off` to see what a Pi 5 / Jetson Orin runs.

Prints one JSON object; exits 1 when the PSNR mean is below `--min-psnr`, the agreement below
`--min-agreement`, or `--expect-kernel` is not among the kernels listed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
from PIL import Image

from .data import list_images, load_model_input
from .onnx_meta import fidelity_default, read_metadata
from .onnx_tools import feeds, input_array, ort_session, psnr_u8, with_code_indices
from .quantize import conv_integer_graph


def write_faces(data: Path, size: int, limit: int, out: Path) -> list[Path]:
    """`limit` faces evenly spaced over `data`, cropped as training, as PNGs in `out`."""
    paths = list_images(data)
    paths = paths[:: max(1, len(paths) // limit)][:limit]
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, p in enumerate(paths):
        dst = out / f"{i:03d}.png"
        Image.fromarray(load_model_input(p, size)).save(dst)
        written.append(dst)
    return written


def read_png(path: Path) -> np.ndarray:
    """An image file as an `[H, W, 3]` float64 RGB array on the 0-255 scale."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.float64)


def restore(runner: list[str], daefr: str, model: Path, faces: Path, out: Path, fidelity: float | None) -> float:
    """`RUNNER DAEFR restore FACES -o OUT --aligned --model MODEL` (one worker, no cache); its seconds."""
    cmd = [*runner, daefr, "restore", str(faces), "-o", str(out), "--aligned", "--model", str(model),
           "--no-cache", "--workers", "1", "--force"]
    if fidelity is not None:
        cmd += ["--fidelity", str(fidelity)]
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True)
    return time.monotonic() - t0


def kernels(runner: list[str], daefr: str, model: Path) -> dict:
    """Matrix kernels named in `daefr inspect MODEL --profile 1` (it lists the 25 slowest nodes) and
    tract's instruction-set / kernel-tier choice (its debug log)."""
    cmd = [*runner, daefr, "inspect", str(model), "--profile", "1"]
    print("$ RUST_LOG=tract_linalg=debug " + shlex.join(cmd), file=sys.stderr, flush=True)
    env = {**os.environ, "RUST_LOG": "tract_linalg=debug"}
    done = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    found: dict[str, int] = {}
    for name in re.findall(r"with \[([A-Za-z0-9_]+)\]", done.stdout):
        found[name] = found.get(name, 0) + 1
    log = [line.split("] ", 1)[-1] for line in done.stderr.splitlines() if "ISA:" in line or "mmm tiers" in line]
    return {"listed": found, "tract_log": sorted(set(log))}


def kernel_probe(fp32: onnx.ModelProto, path: Path) -> Path:
    """The fp32 graph with *every* Conv as ConvInteger (placeholder ranges: only the plan matters), so
    that int8 products are among the slowest nodes `inspect` lists and their kernel shows."""
    convs = [n for n in fp32.graph.node if n.op_type == "Conv"]
    probe = conv_integer_graph(fp32, {n.name for n in convs}, {n.input[0]: (-8.0, 8.0) for n in convs})
    onnx.save(probe, str(path))
    return path


def index_agreement(fp32: onnx.ModelProto, int8: onnx.ModelProto, inputs: list[np.ndarray], w) -> float:
    """Share of code indices the two graphs agree on under onnxruntime, at fidelity weight `w`."""
    ref, test = ort_session(with_code_indices(fp32)), ort_session(with_code_indices(int8))
    agree = total = 0
    for x in inputs:
        i_ref = ref.run(None, feeds(ref, x, w))[1]
        i = test.run(None, feeds(test, x, w))[1]
        agree += int((i == i_ref).sum())
        total += i_ref.size
    return agree / total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="int8 vs fp32 through the daefr runtime (e.g. under qemu).")
    ap.add_argument("--fp32", type=Path, required=True)
    ap.add_argument("--int8", type=Path, required=True)
    ap.add_argument("--data", type=Path, required=True, help="folder of face crops (e.g. celeba-6k/test)")
    ap.add_argument("--limit", type=int, default=32)
    ap.add_argument("--daefr", default="target/release/daefr", help="the daefr binary to run")
    ap.add_argument("--runner", default="", help='command prefix, e.g. "qemu-aarch64 -cpu cortex-a76 -L ..."')
    ap.add_argument("--fidelity", type=float, help="fidelity weight (default: the model's)")
    ap.add_argument("--work", type=Path, required=True, help="scratch folder (faces, outputs)")
    ap.add_argument("--min-psnr", type=float, default=40.0)
    ap.add_argument("--min-agreement", type=float, default=0.99)
    ap.add_argument("--expect-kernel", default="", help="fail unless this kernel is named in the int8 graph's or the probe's profile")
    ap.add_argument("--reuse-fp32", action="store_true",
                    help="keep WORK/fp32 when it already holds every face (from a run with the same --fidelity; "
                    "an emulated fp32 pass takes ~15 min)")
    args = ap.parse_args(argv)

    fp32, int8 = onnx.load(str(args.fp32)), onnx.load(str(args.int8))
    meta = read_metadata(fp32)
    size = int(meta["daefr.input_size"])
    w = args.fidelity if args.fidelity is not None else fidelity_default(meta)
    runner = shlex.split(args.runner)
    faces = write_faces(args.data, size, args.limit, args.work / "faces")
    seconds = {}
    for name, model in (("fp32", args.fp32), ("int8", args.int8)):
        if name == "fp32" and args.reuse_fp32 and all((args.work / name / f.name).is_file() for f in faces):
            continue
        seconds[name] = round(restore(runner, args.daefr, model, args.work / "faces", args.work / name,
                                      args.fidelity), 1)
    psnrs = [psnr_u8(read_png(args.work / "fp32" / f.name), read_png(args.work / "int8" / f.name)) for f in faces]
    inputs = [input_array(read_png(f)) for f in faces]
    result = {
        "faces": len(faces),
        "fidelity": w,
        "psnr_int8_vs_fp32_db": {"mean": round(float(np.mean(psnrs)), 2), "min": round(float(np.min(psnrs)), 2),
                                 "per_face": [round(p, 2) for p in psnrs]},
        "index_agreement_onnxruntime": index_agreement(fp32, int8, inputs, w),
        "restore_seconds": seconds,
        "runner": args.runner,
    }
    result["int8_kernels"] = kernels(runner, args.daefr, args.int8)
    result["probe_kernels"] = kernels(runner, args.daefr, kernel_probe(fp32, args.work / "probe-all-convinteger.onnx"))
    print(json.dumps(result))
    listed = {**result["int8_kernels"]["listed"], **result["probe_kernels"]["listed"]}
    ok = (result["psnr_int8_vs_fp32_db"]["mean"] >= args.min_psnr
          and result["index_agreement_onnxruntime"] >= args.min_agreement
          and (not args.expect_kernel or args.expect_kernel in listed))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
