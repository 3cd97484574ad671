"""Checkpoint -> network: strict loading, with the two adaptations MindCV makes (classifier size, 1-channel stem)."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np

from ..errors import CheckpointMismatchError, LoadError, WeightsError
from .layouts import split_training_state

__all__ = ["MISMATCH_ADVICE", "LoadResult", "build_network", "load_network", "load_weights"]

logger = logging.getLogger(__name__)

_SHOW = 10  # keys listed per kind in a mismatch message
# The last sentence of a strict load's mismatch error, unless the caller gives its own (``advice=``).
MISMATCH_ADVICE = (
    "Check that the model card's backbone-name and width match the checkpoint "
    "(ghostnet_050 weights need width 0.5), or pass strict=False to load only the matching part."
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


def _classifier_name(net) -> str:
    return (getattr(net, "default_cfg", None) or {}).get("classifier", "classifier")


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

    Training state (:func:`split_training_state`) is ignored. Two adaptations follow the network's
    own shapes: a classifier with another number of classes keeps its fresh initialisation, and a
    1-channel network gets the RGB stem summed over its input channels. Everything else must
    match exactly: names and shapes.

    Parameters
    ----------
    net : mindspore.nn.Cell
        The network; its ``default_cfg`` may name ``first_conv`` and ``classifier``.
    params : mapping of str to array
        The checkpoint, e.g. from :func:`read_checkpoint`.
    source : str
        The checkpoint's path or name, used in messages.
    strict : bool
        If True (default) any missing key, unexpected key or shape mismatch raises. If False the
        matching subset is loaded and the rest is logged as a WARNING.
    check_only : bool
        Check names and shapes only and set nothing: ``params`` may be stand-ins with the
        declared shapes (:func:`ghosthub.models.scan.stubs`), so a file is checked against the
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

    cfg = getattr(net, "default_cfg", None) or {}
    first_conv, classifier = cfg.get("first_conv", "conv_stem"), _classifier_name(net)
    targets = net.parameters_dict()
    shapes = {name: tuple(p.shape) for name, p in targets.items()}
    ckpt, ignored = split_training_state(params)
    if ignored and not check_only:
        logger.info(
            "Ignoring %d training-state entries in %s (optimizer, loss scale, EMA, step counters)", len(ignored), source
        )

    # A classifier resized for another number of classes (or removed) starts from scratch.
    reinitialized = []
    head = [f"{classifier}.weight", f"{classifier}.bias"]
    if head[0] in ckpt and shapes.get(head[0], ())[:1] != ckpt[head[0]].shape[:1]:
        old = ckpt[head[0]].shape[0]
        for name in head:
            ckpt.pop(name, None)
        reinitialized = [name for name in head if name in shapes]
        if reinitialized:
            logger.info(
                "Checkpoint %s has a %d-class classifier; re-initialising %s for num_classes=%s",
                source,
                old,
                classifier,
                getattr(net, "num_classes", "?"),
            )
        else:
            logger.info("Dropping the %d-class classifier of %s: the network has none", old, source)
    _adapt_stem(ckpt, f"{first_conv}.weight", shapes.get(f"{first_conv}.weight", ()), source)

    missing = [n for n in shapes if n not in ckpt and n not in reinitialized]
    unexpected = [n for n in ckpt if n not in shapes]
    mismatched = [n for n in shapes if n in ckpt and tuple(ckpt[n].shape) != shapes[n]]
    if missing or unexpected or mismatched:
        message = (
            f"checkpoint {source!r} does not fit {_describe(net)}:"
            + _listing("missing keys (in the network, not in the checkpoint)", missing)
            + _listing("unexpected keys (in the checkpoint, not in the network)", unexpected)
            + _listing(
                "shape mismatches (checkpoint vs network)",
                [f"{n} {tuple(ckpt[n].shape)} vs {shapes[n]}" for n in mismatched],
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


def build_network(
    backbone: str,
    width: float | None = None,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    params: Mapping[str, np.ndarray] | None = None,
    num_classes: int | None = None,
    in_channels: int = 3,
    strict: bool = True,
    advice: str | None = None,
    **model_kwargs,
):
    """Create a network and load a local checkpoint into it; ready for inference.

    No download happens here: ``checkpoint_path`` is a local file (``ghosthub.load`` fetches it).

    Parameters
    ----------
    backbone : str
        Backbone name from the model card (``"ghostnet"``) or a variant name (``"ghostnet_050"``).
    width : float, optional
        Width multiplier (see :func:`ghosthub.models.parse_width`).
    checkpoint_path : str or os.PathLike, optional
        A ``.ckpt`` or ``.safetensors`` file; without it (and ``params``) the network keeps its
        initialisation. Also the name used in messages when ``params`` is given.
    params : mapping of str to array, optional
        The checkpoint's arrays, already read (:func:`ghosthub.models.checkpoint.read_with_info`),
        so a caller that needs the record too reads the file once.
    num_classes : int, optional
        Classifier outputs. None: the checkpoint's (1000 without a checkpoint). Another value
        re-initialises the classifier only; 0 removes it (pooled features out).
    in_channels : int
        Image channels; 1 sums the checkpoint's RGB stem, other values must match the checkpoint.
    strict, advice : bool, str
        See :func:`load_weights`.
    **model_kwargs
        Passed on to :func:`ghosthub.models.create_model` (e.g. ``drop_rate``).

    Returns
    -------
    mindspore.nn.Cell
        The network in inference mode (``set_train(False)``).

    Raises
    ------
    WeightsError, CheckpointMismatchError, UnsupportedBackboneError

    Examples
    --------
    >>> net = build_network("ghostnet", 0.5, checkpoint_path="ghostnet_050-85b91860.ckpt")  # doctest: +SKIP
    """
    from ._factory import create_model

    if params is None and checkpoint_path is not None:
        # Any layout; header checked against the network before a tensor is read.
        return load_network(
            checkpoint_path,
            backbone=backbone,
            width=width,
            num_classes=num_classes,
            in_channels=in_channels,
            strict=strict,
            advice=advice,
            **model_kwargs,
        )[0]
    net = create_model(
        backbone,
        width,
        num_classes=1000 if num_classes is None else num_classes,
        in_channels=in_channels,
        **model_kwargs,
    )
    if params is not None:
        if num_classes is None:
            # Keep the checkpoint's classifier size (e.g. a 10-class fine-tuned model).
            head = params.get(f"{_classifier_name(net)}.weight")
            if head is not None and head.shape[0] != net.num_classes:
                net.reset_classifier(int(head.shape[0]))
        source = os.fspath(checkpoint_path) if checkpoint_path is not None else "<checkpoint>"
        load_weights(net, params, source=source, strict=strict, advice=advice)
    net.set_train(False)
    return net


def load_network(
    path: str | os.PathLike,
    *,
    backbone: str | None = None,
    width: float | None = None,
    layout: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    strict: bool = True,
    advice: str | None = None,
    **model_kwargs,
) -> tuple[Any, Any]:
    """Build the network a weights file holds and load it strictly: any layout, no architecture needed.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.ckpt``, ``.safetensors`` or (with torch) ``.pth`` file, in any layout of
        :data:`ghosthub.models.layouts.LAYOUTS`.
    backbone, width, layout : optional
        What a card says (see :func:`plan_weights`).
    num_classes : int, optional
        Default the checkpoint's; another value re-initialises the classifier.
    in_channels : int, optional
        Default the checkpoint's; 1 sums an RGB stem.
    strict, advice : bool, str
        See :func:`ghosthub.models.builder.load_weights`.
    **model_kwargs
        Passed to :func:`ghosthub.models.create_model`.

    Returns
    -------
    net : mindspore.nn.Cell
        In inference mode.
    plan : ghosthub.models.weights.WeightsPlan

    Examples
    --------
    >>> net, plan = load_network("ghostnetv2_100.safetensors")  # doctest: +SKIP
    >>> plan.layout, plan.architecture.family  # doctest: +SKIP
    ('timm', 'ghostnetv2')
    """
    from ._factory import create_model
    from .weights import plan_weights, read_mapped

    plan = plan_weights(path, layout=layout, backbone=backbone, width=width)
    arch = plan.architecture
    classes = num_classes if num_classes is not None else (arch.num_classes or 1000)
    options = {**plan.options, **model_kwargs}
    if "upsample" in options and arch.family.split(".")[0] not in ("ghostnetv2", "ghostnetv3"):
        options.pop("upsample")
    try:
        net = create_model(
            arch.family,
            None if _variant(arch.family) else arch.width,
            num_classes=classes,
            in_channels=arch.in_channels if in_channels is None else in_channels,
            **options,
        )
    except LoadError as exc:
        raise LoadError(f"{plan.path!r}: {exc}") from None
    held = plan.inferred
    if held is not None and (held.family, held.width) != (arch.family, arch.width):
        # The card (or caller) names another architecture than the file's shapes say: say both.
        advice = (
            f"{MISMATCH_ADVICE if advice is None else advice}\nThe file holds a {held.family} of width "
            f"{held.width} with {held.num_classes} classes (ghosthub inspect FILE): ghosthub.load(PATH) builds it "
            "by itself."
        )
    # Names and shapes against the network before a single tensor is read.
    load_weights(net, plan.mapped, source=plan.path, strict=strict, check_only=True, advice=advice)
    load_weights(net, read_mapped(plan), source=plan.path, strict=strict, advice=advice)
    net.set_train(False)
    return net, plan


def _variant(name: str) -> bool:
    """A variant name (ghostnet_050) fixes its own width."""
    return "_" in name
