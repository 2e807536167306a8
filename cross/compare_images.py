#!/usr/bin/env python3
"""Compare two images pixel by pixel: exit 0 when they have the same size and no channel of any
pixel differs by more than --max-diff (in 0..255 steps), or with --min-psnr when their PSNR is at
least that many dB (for an int8 graph against its fp32 source, which differ in every pixel a
little); else exit 1.

Used by cross/qemu-check.sh to compare an ARM build's output with the x86 build's. Pillow is
already a CI dependency (models/requirements.txt), so this needs no extra build step.
"""
import argparse
import functools
import math
import sys

from PIL import Image, ImageChops


def count_pixels_over(diff: Image.Image, limit: int) -> int:
    """Pixels where any channel of `diff` exceeds `limit`."""
    masks = [band.point(lambda v: 255 if v > limit else 0) for band in diff.split()]
    return functools.reduce(ImageChops.lighter, masks).histogram()[255]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference")
    parser.add_argument("candidate")
    parser.add_argument("--max-diff", type=int, default=1, help="largest allowed |a-b| per channel")
    parser.add_argument("--min-psnr", type=float, default=None,
                        help="instead of --max-diff: the least PSNR (dB) of candidate against reference")
    args = parser.parse_args()

    a = Image.open(args.reference).convert("RGB")
    b = Image.open(args.candidate).convert("RGB")
    if a.size != b.size:
        print(f"size differs: {args.reference} {a.size} vs {args.candidate} {b.size}")
        return 1
    diff = ImageChops.difference(a, b)
    worst = max(high for _, high in diff.getextrema())
    if args.min_psnr is not None:
        squares = sum(count * value * value for band in diff.split() for value, count in enumerate(band.histogram()))
        mse = squares / (3 * a.size[0] * a.size[1])
        db = float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)
        print(f"{a.size[0]}x{a.size[1]}: PSNR {db:.2f} dB (at least {args.min_psnr:g}); max |diff| {worst}/255")
        return 0 if db >= args.min_psnr else 1
    pixels = a.size[0] * a.size[1]
    print(
        f"{a.size[0]}x{a.size[1]}: max |diff| {worst}/255 (allowed {args.max_diff}); "
        f"{pixels - count_pixels_over(diff, 0)}/{pixels} pixels identical, "
        f"{count_pixels_over(diff, args.max_diff)} over the limit"
    )
    return 0 if worst <= args.max_diff else 1


if __name__ == "__main__":
    sys.exit(main())
