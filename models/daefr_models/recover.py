"""Recover a trainable checkpoint from an fp32 restorer this toolchain exported.

    python -m daefr_models.recover models/daefr-lite-128.onnx -o runs/bundled/model.pt

Training runs live outside git, so the PyTorch weights behind a shipped model can be lost while
its fp32 `.onnx` file is kept. This reads the weights back out of that file into a `model.pt`
that `train --init-from` and `export --checkpoint` accept, so the shipped model can be trained
further without its run folder.

How: the exporter renames, reshapes, transposes or splits parameters as it likes (constant
folding, `tract_form`), so names are not trusted. A *fingerprint* model of the file's config is
filled with distinct values, one per parameter element, and exported the same way; where each of
those values lands in the fingerprint file says where that parameter element lies in any file of
the same graph. The recovered model is then exported again and every initializer is compared with
the source file bit for bit: the command fails unless all of them match.

What a file cannot give back: the parts of the model the restore graph does not use (the LQ
decoder, LQ codebook and `post_quant_conv`; they keep a fresh model's values under seed 0 and are
listed in the checkpoint's `not_recovered`) and what lives outside the model: the stage-3
teacher, stage 2's association head, the discriminator and the optimiser states. The code path, HQ decoder and fidelity path, everything
stage 4 trains or reads, come back exactly. int8 files cannot be recovered (their weights are
rounded); use the fp32 file.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from .arch import DAEFR
from .config import CONFIG_NAMES, get_config
from .export import to_onnx
from .onnx_meta import read_metadata
from .output_guard import refusal
from .train import save


class RecoverError(RuntimeError):
    """The file cannot be turned back into a checkpoint (said why)."""


@dataclass
class Recovered:
    """A recovered model and what could not be recovered."""

    model: DAEFR
    config: str
    tract_friendly: bool
    not_recovered: list[str]
    initializers_checked: int


def fingerprint_model(config: str) -> DAEFR:
    """A DAEFR of `config` whose parameters hold pairwise distinct float32 values (|v| < 0.5)."""
    model = DAEFR(get_config(config)).eval()
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    # evenly spaced values: distinct in float32 for a few million parameters (spacing >> ulp at 0.5)
    values = np.linspace(-0.45, 0.45, total, dtype=np.float64).astype(np.float32)
    if len(np.unique(values)) != total:
        raise RecoverError(f"config {config}: too many parameters ({total}) for distinct fingerprint values")
    values = np.random.default_rng(0).permutation(values)
    offset = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(torch.from_numpy(values[offset:offset + n].copy()).view_as(p))
            offset += n
    return model


def _float_initializers(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer
            if i.data_type == onnx.TensorProto.FLOAT}


def locate_parameters(model: DAEFR, proto: onnx.ModelProto) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[str]]:
    """Where each parameter element of the fingerprint `model` lies in its export `proto`.

    Returns ({parameter: (initializer numbers, flat indices)}, parameters absent from the file;
    absent: fewer than half of its values found, the rest chance matches). A parameter found
    mostly but not whole means the exporter changed its values (folded it into
    something else): that is an error, since nothing could recover it. A value that also occurs
    elsewhere in the file (a graph constant such as 0.25 that happens to equal it) is read from
    the initializer that holds the rest of its parameter; if that does not settle it, an error."""
    inits = list(_float_initializers(proto).values())
    bits = np.concatenate([a.reshape(-1).view(np.uint32) for a in inits]) if inits else np.zeros(0, np.uint32)
    owner = np.concatenate([np.full(a.size, k, np.int64) for k, a in enumerate(inits)]) if inits else np.zeros(0, np.int64)
    flat = np.concatenate([np.arange(a.size, dtype=np.int64) for a in inits]) if inits else np.zeros(0, np.int64)
    order = np.argsort(bits, kind="stable")
    sorted_bits = bits[order]
    where, absent = {}, []
    for name, p in model.named_parameters():
        want = p.detach().numpy().reshape(-1).view(np.uint32)
        pos = np.searchsorted(sorted_bits, want)
        pos_ok = np.minimum(pos, max(len(sorted_bits) - 1, 0))
        found = (pos < len(sorted_bits)) & (sorted_bits[pos_ok] == want) if len(sorted_bits) else np.zeros(want.size, bool)
        if found.mean() < 0.5:  # a few values may equal graph constants by chance
            absent.append(name)
            continue
        if not found.all():
            raise RecoverError(f"parameter {name}: {int((~found).sum())} of {want.size} values are not in the "
                               "file as they are (the exporter changed them): it cannot be recovered")
        hit = order[pos]
        ends = np.searchsorted(sorted_bits, want, side="right")
        ambiguous = np.flatnonzero(ends - pos > 1)
        if ambiguous.size:
            unique = np.setdiff1d(np.arange(want.size), ambiguous)
            home = set(owner[order[pos[unique]]].tolist())
            for e in ambiguous:
                cands = [c for c in order[pos[e]:ends[e]] if owner[c] in home]
                if len({int(owner[c]) for c in cands}) != 1:
                    raise RecoverError(f"parameter {name}: a value occurs in several places of the file and "
                                       "cannot be told apart")
                hit[e] = cands[0]
        where[name] = (owner[hit], flat[hit])
    return where, absent


def _slots(proto: onnx.ModelProto) -> tuple[list[str], dict[tuple[int, int], str]]:
    """(op types in node order, {(node number, input number): initializer name})."""
    names = {i.name for i in proto.graph.initializer}
    ops = [n.op_type for n in proto.graph.node]
    slots = {(k, j): name for k, node in enumerate(proto.graph.node)
             for j, name in enumerate(node.input) if name in names}
    return ops, slots


def match_initializers(ours: onnx.ModelProto, theirs: onnx.ModelProto) -> dict[str, str] | None:
    """{our initializer: theirs} for two exports of the same graph, by the node inputs they feed;
    None if the graphs differ. Names are not compared: onnxruntime merges initializers that hold
    equal values (e.g. a fresh model's all-ones norms), so a file may share one where we have two."""
    our_ops, our_slots = _slots(ours)
    their_ops, their_slots = _slots(theirs)
    if our_ops != their_ops or our_slots.keys() != their_slots.keys():
        return None
    shapes = {i.name: tuple(i.dims) for i in (*ours.graph.initializer, *theirs.graph.initializer)}
    pairs: dict[str, str] = {}
    for slot, name in our_slots.items():
        other = their_slots[slot]
        if pairs.setdefault(name, other) != other:
            return None  # one of ours feeds two of theirs: not the same graph
    if any(shapes[a] != shapes[b] for a, b in pairs.items()):
        return None
    return pairs


def recover(path: Path, log=print) -> Recovered:
    """Read `path` (an fp32 restorer exported by this toolchain) back into a DAEFR."""
    if not path.is_file():
        raise RecoverError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # onnx raises several types for a file that is not a model
        raise RecoverError(f"{path}: not an ONNX model ({exc})") from exc
    meta = read_metadata(proto)
    config = meta.get("daefr.config")
    if config not in CONFIG_NAMES:
        raise RecoverError(f"{path}: metadata names config {config!r}, not one of this toolchain's "
                           f"({', '.join(CONFIG_NAMES)})")
    quant = meta.get("daefr.quantization", "none")
    if quant != "none":
        raise RecoverError(f"{path}: quantization {quant!r}: its weights are rounded, recover from the fp32 file")
    log(f"recover: {path} is config {config}; exporting a fingerprint model of it")
    finger = fingerprint_model(config)
    form = pairs = finger_proto = None
    for tract_friendly in (True, False):
        finger_proto = to_onnx(finger, meta, tract_friendly=tract_friendly)
        pairs = match_initializers(finger_proto, proto)
        if pairs is not None:
            form = tract_friendly
            break
    if pairs is None:
        raise RecoverError(f"{path}: its graph differs from what this toolchain exports for {config} "
                           "(another toolchain version, an ablation variant without the LQ encoder or "
                           "the fusion, or a hand-edited file)")
    where, absent = locate_parameters(finger, finger_proto)
    finger_names = [i.name for i in finger_proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    theirs = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    torch.manual_seed(0)  # what the file does not hold is the same on every run
    model = DAEFR(get_config(config)).eval()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, (owners, idx) in where.items():
            values = np.empty(idx.size, np.float32)
            for k in np.unique(owners):
                if finger_names[k] not in pairs:
                    raise RecoverError(f"parameter {name}: its initializer feeds no node")
                sel = owners == k
                values[sel] = theirs[pairs[finger_names[k]]].reshape(-1)[idx[sel]]
            params[name].copy_(torch.from_numpy(values).view_as(params[name]))
    log(f"recover: {len(where)} parameters read back, {len(absent)} not in the restore graph; checking")
    again = to_onnx(model, meta, tract_friendly=form)
    back = match_initializers(again, proto)
    if back is None:
        raise RecoverError(f"{path}: the recovered weights export to another graph")
    mine = {i.name: numpy_helper.to_array(i) for i in again.graph.initializer}
    differ = [b for a, b in back.items()
              if mine[a].dtype != theirs[b].dtype or mine[a].tobytes() != theirs[b].tobytes()]
    if differ:
        raise RecoverError(f"{path}: re-export of the recovered weights differs in {len(differ)} initializers "
                           f"(first: {differ[:3]})")
    return Recovered(model, config, form, absent, len(set(back.values())))


def save_checkpoint(rec: Recovered, source: Path, out: Path) -> None:
    """Write `rec` as a finished-stage checkpoint (`train --init-from`, `export --checkpoint`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "config": rec.config,
        "model": rec.model.state_dict(),
        "done": True,
        "step": 0,
        "elapsed": 0.0,
        "images": 0,
        "metrics": {},
        "recovered_from": str(source),
        "not_recovered": rec.not_recovered,
    }
    save(out, payload)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Recover a trainable model.pt from an fp32 restorer .onnx "
                                             "exported by this toolchain.")
    ap.add_argument("onnx", type=Path, help="fp32 restorer file (e.g. models/daefr-lite-128.onnx)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="checkpoint to write (model.pt)")
    ap.add_argument("--force", action="store_true", help="replace an existing output")
    args = ap.parse_args(argv)

    def refused() -> str | None:
        return refusal(args.output, (args.onnx,), args.force)

    if (why := refused()) is not None:
        print(f"recover: {why}", file=sys.stderr)
        return 2
    try:
        rec = recover(args.onnx)
    except RecoverError as exc:
        print(f"recover: {exc}", file=sys.stderr)
        return 1
    if (why := refused()) is not None:  # again: recovering takes a few seconds
        print(f"recover: {why}", file=sys.stderr)
        return 2
    save_checkpoint(rec, args.onnx, args.output)
    left = (f"{len(rec.not_recovered)} parameters not in the file left fresh, e.g. "
            f"{', '.join(rec.not_recovered[:3])}" if rec.not_recovered else "nothing left fresh")
    print(f"recover: all {rec.initializers_checked} initializers of a re-export match {args.onnx} bit for bit; "
          f"wrote {args.output} (config {rec.config}; {left})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
