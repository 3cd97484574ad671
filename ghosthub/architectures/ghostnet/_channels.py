"""Channel plans of the GhostNet family, in plain Python.

Shared by the MindSpore networks (which build them) and :mod:`ghosthub.architectures.ghostnet.layouts` (which
checks a checkpoint's shapes against them before any network is built, without MindSpore).
"""

from __future__ import annotations

import math

# GhostNet v1 / V2 (MindCV, timm, model zoo 1x): one inner list per ``blocks.{stage}``; per
# bottleneck kernel, expansion channels, output channels, SE ratio, stride (at width 1).
GHOSTNET_STAGES = [
    [[3, 16, 16, 0, 1]],
    [[3, 48, 24, 0, 2]],
    [[3, 72, 24, 0, 1]],
    [[5, 72, 40, 0.25, 2]],
    [[5, 120, 40, 0.25, 1]],
    [[3, 240, 80, 0, 2]],
    [[3, 200, 80, 0, 1], [3, 184, 80, 0, 1], [3, 184, 80, 0, 1], [3, 480, 112, 0.25, 1], [3, 672, 112, 0.25, 1]],
    [[5, 672, 160, 0.25, 2]],
    [[5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1], [5, 960, 160, 0, 1], [5, 960, 160, 0.25, 1]],
]
GHOSTNET_LAST = 960  # the final 1x1 conv's channels at width 1

# GhostNet-600M (model zoo): per bottleneck kernel, output channels at width 1, expansion ratio
# of the block's input channels, stride; SE (reduction 10) in every block.
GHOSTNET600_BLOCKS = [
    (3, 16, 1, 1),
    (3, 24, 3, 2),
    (3, 24, 3, 1),
    (5, 40, 3, 2),
    (3, 40, 3, 1),
    (3, 40, 3, 1),
    (3, 80, 6, 2),
    (3, 80, 2.5, 1),
    (3, 80, 2.5, 1),
    (3, 80, 2.5, 1),
    (3, 112, 6, 1),
    (3, 112, 6, 1),
    (3, 112, 6, 1),
    (5, 160, 6, 2),
    (3, 160, 6, 1),
    (3, 160, 6, 1),
    (3, 160, 6, 1),
    (3, 160, 6, 1),
    (3, 160, 6, 1),
]
GHOSTNET600_SE_REDUCTION = 10


def make_divisible(v: float, divisor: int = 4) -> int:
    """Round ``v`` to a multiple of ``divisor``, never going down by more than 10% (timm, MindCV, model zoo)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def ghostnet_plan(width: float) -> list[tuple[str, int]]:
    """(ghosthub parameter name, output channels) of the stem, each ghost module and the last conv.

    A ghost module's primary conv makes half its output channels (rounded up).
    """
    plan = [("conv_stem.weight", make_divisible(16 * width))]
    for s, stage in enumerate(GHOSTNET_STAGES):
        for j, (_, exp, out, _, _) in enumerate(stage):
            plan.append((f"blocks.{s}.{j}.ghost1.primary_conv.0.weight", math.ceil(make_divisible(exp * width) / 2)))
            plan.append((f"blocks.{s}.{j}.ghost2.primary_conv.0.weight", math.ceil(make_divisible(out * width) / 2)))
    plan.append((f"blocks.{len(GHOSTNET_STAGES)}.features.0.weight", make_divisible(GHOSTNET_LAST * width)))
    return plan


def ghostnet600_plan(width: float) -> tuple[int, list[tuple[int, int, int, int, int, int]], int]:
    """Channel widths of GhostNet-600M at ``width``, by the model zoo's rounding rules.

    Returns
    -------
    stem : int
        ``16 * width`` rounded to a multiple of 4.
    blocks : list of (in, mid, out, se, kernel, stride)
        The expansion is the block's *input* channels times its ratio (rounded to 8), the output
        ``c * width`` rounded to 4, the SE width ``mid // 10`` rounded to 8.
    last : int
        The final 1x1 conv, ``960 * width`` rounded to 8.
    """
    stem = make_divisible(16 * width, 4)
    blocks, prev = [], stem
    for k, c, ratio, s in GHOSTNET600_BLOCKS:
        mid, out = make_divisible(prev * ratio, 8), make_divisible(c * width, 4)
        blocks.append((prev, mid, out, make_divisible(mid // GHOSTNET600_SE_REDUCTION, 8), k, s))
        prev = out
    return stem, blocks, make_divisible(GHOSTNET_LAST * width, 8)


def ghostnet600_names(width: float) -> list[tuple[str, int]]:
    """(parameter name, output channels) of GhostNet-600M's stem, ghost modules and last conv."""
    stem, blocks, last = ghostnet600_plan(width)
    plan = [("conv_stem.weight", stem)]
    for i, (_, mid, out, _, _, _) in enumerate(blocks):
        plan.append((f"blocks.{i}.ghost1.primary_conv.conv.weight", math.ceil(mid / 2)))
        plan.append((f"blocks.{i}.ghost2.primary_conv.conv.weight", math.ceil(out / 2)))
    plan.append((f"blocks.{len(blocks)}.conv.weight", last))
    return plan
