"""Rewrite an exported graph into the forms tract runs fastest, without changing what it computes.

    python -m daefr_models.tract_form IN.onnx -o OUT.onnx [--no-parity] [--force]

The exporter writes GroupNorm as `Reshape -> InstanceNormalization -> Reshape -> Mul(gamma) ->
Add(beta)`, with gamma and beta as `[C,1,1]` initializers. Both onnxruntime and tract read that
correctly, but tract 0.23 runs two parts of it far below its own speed (BENCHMARKS.md, "Export
form of GroupNorm and per-layer convolution choice"), hence two passes:

- `full_rank_constants`: a per-channel constant of lower rank than the tensor it multiplies or adds
  to reaches tract's fused elementwise chain with the strides of an inserted axis, and tract then
  takes its generic broadcasting path (~3.5 ns per element instead of ~0.2). Giving the constant the
  full rank (`[1,C,1,1]`) up front keeps it on the fast path. Same values, same arithmetic.
- `group_mean_over_axes`: InstanceNormalization over the `[1,G,K]` view becomes a mean over the
  trailing axes of a `[1,G,C/G,H,W]` view, then `d / sqrt(mean(d*d) + eps)` over `[1,G,K]`.
  tract 0.23 sums a single last axis one element at a time on x86 (0.22 ms for 16x128x128
  values), but reduces several trailing axes with ndarray's unrolled (vectorized) sum (0.05 ms);
  the variance keeps the form tract fuses into its vectorized `RmsNorm`. The order of the
  additions changes, so outputs move by float rounding only (the parity step checks).

Tried and not kept: the group mean as a MatMul with a `1/K` column (packing the activation for the
matrix kernel cost as much as it saved inside the whole network).

The command reports how many places changed and checks the rewritten graph against the input
under onnxruntime on the committed portrait (max abs difference, code-index agreement) unless
`--no-parity`. Metadata is kept.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from .onnx_tools import ASTRONAUT, compare, load_face

#: Elementwise ops whose constant operand broadcasts against the other (numpy rules).
BROADCAST_OPS = ("Mul", "Add", "Sub", "Div")
#: Prefix of every initializer this module creates.
PREFIX = "tract_form/"


@dataclass(frozen=True)
class Report:
    """How many places each pass rewrote."""

    full_rank_constants: int
    group_means: int

    def __str__(self) -> str:
        return (f"{self.full_rank_constants} per-channel constants given full rank, "
                f"{self.group_means} GroupNorm means over trailing axes")


def _shapes(proto: onnx.ModelProto) -> dict[str, tuple[int | None, ...]]:
    """Shape of every value ONNX shape inference knows: one int per axis, None where unknown."""
    inferred = shape_inference.infer_shapes(proto)
    shapes: dict[str, tuple[int | None, ...]] = {}
    for vi in (*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            shapes[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    return shapes


def _readers(proto: onnx.ModelProto) -> dict[str, int]:
    """How many node inputs read each value."""
    readers: dict[str, int] = {}
    for node in proto.graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    return readers


def full_rank_constants(proto: onnx.ModelProto) -> int:
    """Give every lower-rank constant operand of Mul/Add/Sub/Div the rank of the op's output by
    prepending unit axes (numpy broadcasting makes that the same value). An initializer that other
    nodes also read is copied, not changed in place. Returns how many operands were rewritten."""
    ranks = {name: len(shape) for name, shape in _shapes(proto).items()}
    inits = {i.name: i for i in proto.graph.initializer}
    readers = _readers(proto)
    changed = 0
    for node in proto.graph.node:
        if node.op_type not in BROADCAST_OPS or node.output[0] not in ranks:
            continue
        out_rank = ranks[node.output[0]]
        for slot, name in enumerate(node.input):
            init = inits.get(name)
            if init is None or not 0 < len(init.dims) < out_rank:
                continue
            value = numpy_helper.to_array(init)
            full = value.reshape((1,) * (out_rank - value.ndim) + value.shape)
            if readers[name] == 1:
                init.CopyFrom(numpy_helper.from_array(full, name))
            else:
                new_name = f"{PREFIX}{name}/rank{out_rank}"
                if new_name not in inits:
                    inits[new_name] = numpy_helper.from_array(full, new_name)
                    proto.graph.initializer.append(inits[new_name])
                node.input[slot] = new_name
            changed += 1
    return changed


def _all_equal(inits: dict, name: str, value: float) -> bool:
    return name in inits and bool((numpy_helper.to_array(inits[name]) == value).all())


def group_mean_over_axes(proto: onnx.ModelProto) -> int:
    """Rewrite each exporter GroupNorm core, `Reshape(x [1,C,H,W] -> [1,G,K])` feeding an
    InstanceNormalization with unit scale and zero bias, as a mean over the trailing axes of a
    `[1,G,C/G,H,W]` view followed by the RmsNorm form over `[1,G,K]` (see the module doc).
    Returns how many were rewritten; anything else is left as it is."""
    shapes = {name: shape for name, shape in _shapes(proto).items() if None not in shape}
    inits = {i.name: i for i in proto.graph.initializer}
    producer = {out: node for node in proto.graph.node for out in node.output}
    readers = _readers(proto)
    replace: dict[int, list[onnx.NodeProto]] = {}
    drop: set[int] = set()
    for node in proto.graph.node:
        if node.op_type != "InstanceNormalization":
            continue
        reshape = producer.get(node.input[0])
        if reshape is None or reshape.op_type != "Reshape" or readers.get(node.input[0]) != 1:
            continue
        x = reshape.input[0]
        grouped = shapes.get(node.input[0])
        if (x not in shapes or len(shapes[x]) != 4 or shapes[x][0] != 1 or grouped is None
                or len(grouped) != 3 or not _all_equal(inits, node.input[1], 1.0)
                or not _all_equal(inits, node.input[2], 0.0)):
            continue
        _, c, h, w = shapes[x]
        g, k = grouped[1], grouped[2]
        if c % g or k != c // g * h * w:
            continue
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-5)
        n = len(replace)
        tag = f"{PREFIX}gn{n}"
        for name, value in ((f"{tag}/split", [1, g, c // g, h, w]), (f"{tag}/rows", [1, g, k])):
            proto.graph.initializer.append(numpy_helper.from_array(np.array(value, np.int64), name))
        eps_name = f"{PREFIX}eps_{eps:g}"
        if eps_name not in inits:
            inits[eps_name] = numpy_helper.from_array(np.array(eps, np.float32), eps_name)
            proto.graph.initializer.append(inits[eps_name])
        make = helper.make_node
        replace[id(node)] = [
            make("Reshape", [x, f"{tag}/split"], [f"{tag}/x"], name=f"{tag}/x"),
            make("ReduceMean", [f"{tag}/x"], [f"{tag}/mean"], axes=[2, 3, 4], keepdims=1, name=f"{tag}/mean"),
            make("Sub", [f"{tag}/x", f"{tag}/mean"], [f"{tag}/centred"], name=f"{tag}/centred"),
            make("Reshape", [f"{tag}/centred", f"{tag}/rows"], [f"{tag}/d"], name=f"{tag}/d"),
            make("Mul", [f"{tag}/d", f"{tag}/d"], [f"{tag}/square"], name=f"{tag}/square"),
            make("ReduceMean", [f"{tag}/square"], [f"{tag}/variance"], axes=[2], keepdims=1, name=f"{tag}/variance"),
            make("Add", [f"{tag}/variance", eps_name], [f"{tag}/variance_eps"], name=f"{tag}/variance_eps"),
            make("Sqrt", [f"{tag}/variance_eps"], [f"{tag}/std"], name=f"{tag}/std"),
            make("Div", [f"{tag}/d", f"{tag}/std"], [node.output[0]], name=f"{tag}/normalised"),
        ]
        drop.add(id(reshape))
    nodes = []
    for node in proto.graph.node:
        if id(node) in drop:
            continue
        nodes.extend(replace.get(id(node), [node]))
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return len(replace)


def _drop_unused_initializers(proto: onnx.ModelProto) -> None:
    """Remove initializers no node reads (shared constants whose every reader took a full-rank copy)."""
    read = set(_readers(proto)) | {o.name for o in proto.graph.output}
    keep = [i for i in proto.graph.initializer if i.name in read]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)


def rewrite(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, Report]:
    """A rewritten copy of `proto` (the input is not modified) and what changed."""
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    means = group_mean_over_axes(out)
    consts = full_rank_constants(out)
    _drop_unused_initializers(out)
    onnx.checker.check_model(out)
    return out, Report(full_rank_constants=consts, group_means=means)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m daefr_models.tract_form", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="exported ONNX graph")
    ap.add_argument("-o", "--output", type=Path, required=True, help="rewritten graph to write")
    ap.add_argument("--no-parity", action="store_true", help="skip the onnxruntime comparison")
    ap.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"error: {args.model}: no such file", file=sys.stderr)
        return 2
    if args.output.exists() and not args.force and args.output.resolve() != args.model.resolve():
        print(f"error: {args.output} exists (pass --force to overwrite)", file=sys.stderr)
        return 2
    proto = onnx.load(str(args.model))
    rewritten, report = rewrite(proto)
    print(f"{args.model}: {report}")
    if not args.no_parity:
        size = proto.graph.input[0].type.tensor_type.shape.dim[-1].dim_value
        stats = compare(proto, rewritten, [load_face(ASTRONAUT, size)])
        print(f"parity vs input (onnxruntime): {stats}")
    tmp = args.output.with_name(args.output.name + ".tmp")
    onnx.save(rewritten, str(tmp))
    tmp.replace(args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
