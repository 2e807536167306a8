"""Parameters and multiply-accumulates per module of a config's inference graph.

    python -m daefr_models.count --config lite-128 [--depth 2]

Runs the exported graph (DAEFR code path + fidelity path) once on the meta device (no weights are allocated, so `paper-512` is
instant) under torch's FlopCounterMode; MACs = FLOPs / 2 (convolutions, linears and the attention
matmuls; norms, activations and softmax are not MACs and are not counted).
"""

from __future__ import annotations

import argparse
import functools

import torch
from torch.utils.flop_counter import FlopCounterMode

from .arch import DAEFR, RestoreGraph
from .config import CONFIG_NAMES, DaefrConfig, get_config

_ROOT = "RestoreGraph.model."


def _meta_model(cfg: DaefrConfig) -> tuple[RestoreGraph, tuple[torch.Tensor, torch.Tensor]]:
    with torch.device("meta"):
        graph = RestoreGraph(DAEFR(cfg)).eval()
        x = torch.zeros(1, cfg.vq.in_channels, cfg.vq.resolution, cfg.vq.resolution)
        w = torch.full((1,), 0.5)
    return graph, (x, w)


@functools.lru_cache(maxsize=16)
def count_macs(cfg: DaefrConfig) -> tuple[int, dict[str, int]]:
    """(total MACs of one restore, MACs per module path); cached per config (configs are frozen)."""
    graph, inputs = _meta_model(cfg)
    counter = FlopCounterMode(display=False, depth=None)
    with counter:
        graph(*inputs)
    per_module: dict[str, int] = {}
    for name, ops in counter.get_flop_counts().items():
        if name.startswith(_ROOT):
            per_module[name[len(_ROOT) :]] = sum(ops.values()) // 2
    total = sum(counter.get_flop_counts()["Global"].values()) // 2
    # The fidelity path's blocks run inside the decoder's hook, never through FidelityPath.forward:
    # its total is the sum of its blocks (the fusion blocks also count inside hq.decoder).
    kids = [n for n in per_module if n in ("fidelity.residual", "fidelity.residual_coarse") or (n.startswith("fidelity.fuse.") and n.count(".") == 2)]
    if "fidelity" not in per_module and kids:
        per_module["fidelity"] = sum(per_module[k] for k in kids)
    return total, per_module


def count_params(cfg: DaefrConfig) -> dict[str, int]:
    """Parameters per inference-graph module (see `DAEFR.inference_modules`)."""
    with torch.device("meta"):
        model = DAEFR(cfg)
    return {
        name: sum(p.numel() for p in mod.parameters())
        for name, mod in model.inference_modules().items()
    }


def _tree_order(name: str, seen: dict[str, int]) -> tuple[int, ...]:
    """Sort key that lists a module right after its parent, siblings in evaluation order."""
    first = {n: i for i, n in enumerate(seen)}
    parts = name.split(".")
    return tuple(first.get(".".join(parts[: k + 1]), -1) for k in range(len(parts)))


def report(cfg: DaefrConfig, depth: int = 2) -> str:
    """A text table: parameters and MACs per module, then totals."""
    params = count_params(cfg)
    total_macs, macs = count_macs(cfg)
    lines = [
        f"config {cfg.name}: input {cfg.vq.resolution}x{cfg.vq.resolution}, "
        f"{cfg.vq.latent_size}x{cfg.vq.latent_size} tokens, "
        f"codebook {cfg.vq.n_embed}x{cfg.vq.embed_dim}",
        f"{'module':<44} {'params':>12} {'MMAC':>10}",
    ]
    for name, n_params in params.items():
        lines.append(f"{name:<44} {n_params:>12,} {macs.get(name, 0) / 1e6:>10.1f}")
        subs = [n for n in macs if n.startswith(name + ".") and n.count(".") <= name.count(".") + depth]
        for sub in sorted(subs, key=lambda n: _tree_order(n, macs)):
            lines.append(f"  {sub:<42} {'':>12} {macs[sub] / 1e6:>10.1f}")
    total_params = sum(params.values())
    lines.append(f"{'total (inference graph)':<40} {total_params:>12,} {total_macs / 1e6:>10.1f}")
    lines.append(f"= {total_params / 1e6:.2f} M parameters, {total_macs / 1e9:.3f} GMAC per face")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, choices=CONFIG_NAMES)
    parser.add_argument("--depth", type=int, default=2, help="levels of submodules to list")
    args = parser.parse_args(argv)
    print(report(get_config(args.config), args.depth))


if __name__ == "__main__":
    main()
