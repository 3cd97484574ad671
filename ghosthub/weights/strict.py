"""Checkpoint arrays -> a built network: strict names and shapes, with the head and stem adaptations.

Whatever the architecture: its ``default_cfg`` names the classifier and the first convolution
(:class:`ghosthub.architectures.Architecture`), training state is dropped by name
(:mod:`ghosthub.weights.state`), and every other entry must match exactly.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np

from ..errors import CheckpointMismatchError, WeightsError
from .state import split_training_state

__all__ = ["MISMATCH_ADVICE", "LoadResult", "classifiers", "first_conv", "load_weights"]

logger = logging.getLogger(__name__)

_SHOW = 10  # keys listed per kind in a mismatch message
# The last sentence of a strict load's mismatch error, unless the caller gives its own (``advice=``).
MISMATCH_ADVICE = (
    "Check that the architecture (and width) the model card or call names match the checkpoint "
    "(ghosthub inspect FILE says what it holds), or pass strict=False to load only the matching part."
)


class LoadResult(NamedTuple):
    """What :func:`load_weights` did.

    Attributes
    ----------
    loaded : list of str
        Network parameters set from the checkpoint.
    reinitialized : list of str
        Network parameters kept at their fresh initialisation (a resized classifier).
    ignored : list of str
        Checkpoint entries that are training state, not network parameters.
    """

    loaded: list
    reinitialized: list
    ignored: list


def _describe(net) -> str:
    fields = [f"{k}={getattr(net, k)}" for k in ("width", "num_classes", "in_channels") if hasattr(net, k)]
    return f"{type(net).__name__}({', '.join(fields)})"


def _listing(kind: str, items: list[str]) -> str:
    """One indented message line, "3 missing keys: a, b, c", at most _SHOW names; '' for none."""
    if not items:
        return ""
    more = f", ... and {len(items) - _SHOW} more" if len(items) > _SHOW else ""
    return f"\n  {len(items)} {kind}: {', '.join(items[:_SHOW])}{more}"


def classifiers(net) -> tuple[str, ...]:
    """The parameter prefixes of a network's classifier(s), from its ``default_cfg`` (``classifier``)."""
    head = (getattr(net, "default_cfg", None) or {}).get("classifier", "classifier")
    return (head,) if isinstance(head, str) else tuple(head)


def first_conv(net) -> str | None:
    """The parameter prefix of a network's first convolution, from its ``default_cfg``; None when unknown."""
    return (getattr(net, "default_cfg", None) or {}).get("first_conv") or None


def _adapt_stem(params: dict, name: str, net_shape: tuple, source: str) -> None:
    """Sum an RGB stem over its input channels for a 1-channel network (as MindCV does)."""
    weight = params.get(name)
    if weight is None or weight.ndim != 4 or len(net_shape) != 4 or weight.shape == net_shape:
        return
    ckpt_in, net_in = weight.shape[1], net_shape[1]
    if weight.shape[0] != net_shape[0] or weight.shape[2:] != net_shape[2:]:
        return  # not an in_channels question: reported as a shape mismatch
    if net_in == 1:
        logger.info("Summing %s over its %d input channels for in_channels=1 (checkpoint %s)", name, ckpt_in, source)
        params[name] = weight.sum(axis=1, keepdims=True)
        return
    usable = f"in_channels={ckpt_in} or 1 (the stem summed over its input channels)" if ckpt_in > 1 else "in_channels=1"
    raise WeightsError(
        f"checkpoint {source!r} has a {ckpt_in}-channel stem ({name} {tuple(weight.shape)}) but the network "
        f"expects in_channels={net_in}: only {usable} can use these weights. Pass that in_channels, "
        "or build the network without pretrained weights."
    )


def load_weights(
    net,
    params: Mapping[str, np.ndarray],
    *,
    source: str = "<checkpoint>",
    strict: bool = True,
    check_only: bool = False,
    advice: str | None = None,
) -> LoadResult:
    """Copy checkpoint arrays into a network, strictly by default.

    Training state (:func:`~ghosthub.weights.state.split_training_state`: optimizer slots such as
    Adam's copies of the head, step counters) is ignored. Two adaptations follow the network's own
    shapes: a classifier with another number of classes keeps its fresh initialisation, and a
    1-channel network gets the RGB stem summed over its input channels. Everything else must
    match exactly: names and shapes.

    Parameters
    ----------
    net : mindspore.nn.Cell
        The network; its ``default_cfg`` names ``first_conv`` and ``classifier`` (a prefix or several).
    params : mapping of str to array
        The checkpoint, e.g. from :func:`read_checkpoint`.
    source : str
        The checkpoint's path or name, used in messages.
    strict : bool
        If True (default) any missing key, unexpected key or shape mismatch raises. If False the
        matching subset is loaded and the rest is logged as a WARNING.
    check_only : bool
        Check names and shapes only and set nothing: ``params`` may be stand-ins with the
        declared shapes (:func:`ghosthub.weights.formats.stubs`), so a file is checked against the
        network before its tensors are read.
    advice : str, optional
        What the caller's user can do about a mismatch: the last sentence of the
        CheckpointMismatchError. Default :data:`MISMATCH_ADVICE` (check the card, or
        ``strict=False``); a caller with other options says its own.

    Returns
    -------
    LoadResult

    Raises
    ------
    CheckpointMismatchError
        ``strict`` and the checkpoint does not fit the network.
    WeightsError
        The stem cannot be adapted to the network's ``in_channels``.
    """
    import mindspore as ms

    stem, heads = first_conv(net), classifiers(net)
    targets = net.parameters_dict()
    shapes = {name: tuple(p.shape) for name, p in targets.items()}
    ckpt, ignored = split_training_state(params)
    if ignored and not check_only:
        logger.info(
            "Ignoring %d training-state entries in %s (optimizer, loss scale, EMA, step counters)", len(ignored), source
        )

    # A classifier resized for another number of classes (or removed) starts from scratch.
    reinitialized = []
    for classifier in heads:
        head = [f"{classifier}.weight", f"{classifier}.bias"]
        if head[0] not in ckpt or shapes.get(head[0], ())[:1] == ckpt[head[0]].shape[:1]:
            continue
        old = ckpt[head[0]].shape[0]
        for name in head:
            ckpt.pop(name, None)
        fresh = [name for name in head if name in shapes]
        reinitialized += fresh
        if fresh:
            logger.info(
                "Checkpoint %s has a %d-class classifier; re-initialising %s for num_classes=%s",
                source,
                old,
                classifier,
                getattr(net, "num_classes", "?"),
            )
        else:
            logger.info("Dropping the %d-class classifier of %s: the network has none", old, source)
    if stem is not None:
        _adapt_stem(ckpt, f"{stem}.weight", shapes.get(f"{stem}.weight", ()), source)

    missing = [n for n in shapes if n not in ckpt and n not in reinitialized]
    unexpected = [n for n in ckpt if n not in shapes]
    mismatched = [n for n in shapes if n in ckpt and tuple(ckpt[n].shape) != shapes[n]]
    # A number of another kind (an integer tensor for a float parameter, or back) is not cast:
    # floats of any width load into floats (half precision is cast), integers into integers.
    floats = (ms.float16, ms.float32, ms.float64, ms.bfloat16)
    kinds = [
        n
        for n in shapes
        if n in ckpt and n not in mismatched and (np.asarray(ckpt[n]).dtype.kind == "f") != (targets[n].dtype in floats)
    ]
    mismatched += kinds
    if missing or unexpected or mismatched:
        message = (
            f"checkpoint {source!r} does not fit {_describe(net)}:"
            + _listing("missing keys (in the network, not in the checkpoint)", missing)
            + _listing("unexpected keys (in the checkpoint, not in the network)", unexpected)
            + _listing(
                "shape mismatches (checkpoint vs network)",
                [f"{n} {tuple(ckpt[n].shape)} vs {shapes[n]}" for n in mismatched if n not in kinds],
            )
            + _listing(
                "number kinds that differ (checkpoint vs network)",
                [f"{n} {np.asarray(ckpt[n]).dtype} vs {targets[n].dtype}" for n in kinds],
            )
        )
        if strict:
            error = CheckpointMismatchError(f"{message}\n{MISMATCH_ADVICE if advice is None else advice}")
            error.missing, error.unexpected, error.mismatched = missing, unexpected, mismatched
            raise error
        if not check_only:
            logger.warning(
                "%s\nLoading the %d matching tensors only (strict=False).",
                message,
                len(shapes) - len(missing) - len(mismatched) - len(reinitialized),
            )
    if check_only:
        return LoadResult([n for n in targets if n in ckpt and n not in mismatched], reinitialized, ignored)

    loaded = []
    for name, param in targets.items():
        if name in ckpt and name not in mismatched:
            param.set_data(ms.Tensor(np.asarray(ckpt[name]), dtype=param.dtype))
            loaded.append(name)
    return LoadResult(loaded, reinitialized, ignored)
