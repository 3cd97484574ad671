"""Fold inference-mode BatchNorm into the convolution before it: one kernel instead of two.

In inference a BatchNorm is an affine map per channel, ``y = s * (x - mean) + beta`` with
``s = gamma / sqrt(var + eps)``, so ``bn(conv(x))`` equals a convolution with weights
``W * s`` and bias ``beta + (b - mean) * s``. GhostNet-0.5 has 80 such pairs (every BatchNorm
follows a convolution). Measured figures are in :func:`fuse_batchnorm`'s notes. Pairs inside an
``nn.SequentialCell`` are found in any network; pairs a ``construct`` chains by attribute are the
architecture's to name (its ``bn_pairs``, :class:`ghosthub.architectures.Architecture`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fuse_batchnorm", "fuse_pair"]


def fuse_pair(conv, bn):
    """A new ``nn.Conv2d`` (with bias) computing ``bn(conv(x))`` of an inference-mode BatchNorm.

    Parameters
    ----------
    conv : mindspore.nn.Conv2d
    bn : mindspore.nn.BatchNorm2d
        Its moving statistics are used (inference mode).

    Returns
    -------
    mindspore.nn.Conv2d
    """
    import mindspore as ms
    from mindspore import nn

    # float64 for the fold, so the fused layer differs from the pair by float32 rounding only.
    weight = conv.weight.asnumpy().astype(np.float64)
    bias = conv.bias.asnumpy().astype(np.float64) if conv.has_bias else np.zeros(weight.shape[0])
    scale = bn.gamma.asnumpy().astype(np.float64) / np.sqrt(bn.moving_variance.asnumpy().astype(np.float64) + bn.eps)
    new_weight = weight * scale.reshape((-1,) + (1,) * (weight.ndim - 1))
    new_bias = bn.beta.asnumpy().astype(np.float64) + (bias - bn.moving_mean.asnumpy().astype(np.float64)) * scale
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        pad_mode=conv.pad_mode,
        padding=conv.padding,
        dilation=conv.dilation,
        group=conv.group,
        has_bias=True,
        weight_init=ms.Tensor(new_weight.astype(np.float32)),
        bias_init=ms.Tensor(new_bias.astype(np.float32)),
        data_format=conv.data_format,
    )
    fused.set_train(False)
    return fused


def _is_pair(conv, bn) -> bool:
    from mindspore import nn

    return (
        isinstance(conv, nn.Conv2d)
        and isinstance(bn, nn.BatchNorm2d)
        and bn.num_features == conv.out_channels
        and getattr(conv, "data_format", "NCHW") == "NCHW"
    )


def fuse_batchnorm(net):
    """Fold every BatchNorm that directly follows a convolution into it, in place, for inference.

    Call it on a loaded network that will only run inference (``ghosthub.load(..., fuse=True)``,
    before compiling it, before exporting MINDIR/ONNX), never on one to be trained or saved: the
    BatchNorm cells become ``nn.Identity`` and the convolutions get new weights and a bias, so
    the parameter names no longer match the checkpoint layout.

    Pairs are found inside ``nn.SequentialCell`` (conv at index i, BatchNorm at i + 1) and as the
    attribute pairs the network's architecture names (``bn_pairs``: ``construct`` calls ``bn(conv(x))``).

    Parameters
    ----------
    net : mindspore.nn.Cell
        In inference mode (``set_train(False)``).

    Returns
    -------
    mindspore.nn.Cell
        ``net`` itself, with ``net.bn_fused`` set to the number of folded BatchNorms.

    Raises
    ------
    ValueError
        ``net`` is in training mode (BatchNorm would use batch statistics there).

    Notes
    -----
    Outputs are equal to float32 rounding: max relative difference of the logits 2-3e-7 for
    GhostNet-0.5 at 224 px (tests/runtime/test_runtime.py checks <= 1e-5). Speed, GhostNet-0.5, 224 px,
    AVX2 pin, 2-core AMD EPYC, fused and plain networks timed alternately in one process (median
    of 7): PyNative 1.21x (batch 1) and 1.17x (batch 32), graph mode 1.11x and 1.15x. In
    bench/bench_inference.py (one process per row, machine load 9-11) 1.40x / 1.46x PyNative and
    1.72x / 1.05x compiled. Kept: never slower, same outputs.
    """
    from mindspore import nn

    from ..architectures import architecture_of

    if net.training:
        raise ValueError("fuse_batchnorm is for inference: call net.set_train(False) first")
    spec = architecture_of(net)
    pairs = spec.bn_pairs if spec is not None else ()
    folded = 0
    for _, cell in list(net.cells_and_names()):
        if isinstance(cell, nn.SequentialCell):
            items = list(cell)
            for i in range(len(items) - 1):
                if _is_pair(items[i], items[i + 1]):
                    cell[i] = fuse_pair(items[i], items[i + 1])
                    cell[i + 1] = nn.Identity()
                    folded += 1
        for conv_name, bn_name in pairs:
            conv, bn = getattr(cell, conv_name, None), getattr(cell, bn_name, None)
            if conv is not None and bn is not None and _is_pair(conv, bn):
                setattr(cell, conv_name, fuse_pair(conv, bn))
                setattr(cell, bn_name, nn.Identity())
                folded += 1
    # A cell set as an attribute names its parameters after that attribute only ("conv_dw.weight" in
    # every down-sampling block); graph compilation needs unique names: give each its full path.
    for name, param in net.parameters_and_names():
        param.name = name
    net.bn_fused = getattr(net, "bn_fused", 0) + folded
    return net
