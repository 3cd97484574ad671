"""A weights file -> a network holding its weights: plan from the header, build, check strictly, then read.

The one place where a file becomes a network, whatever the architecture: :func:`load_network` for
a file (its architecture named by a card, the caller, its record or its own names), and
:func:`build_network` for an architecture name with a file or arrays already read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import LoadError
from .plan import WeightsPlan, plan_weights, read_mapped
from .strict import MISMATCH_ADVICE, classifiers, load_weights

__all__ = ["build_network", "load_network"]


def build_network(
    architecture: str,
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
    architecture : str
        An architecture name (``"resnet50"``, ``"ghostnet"``) or a width-taking family's variant
        (``"ghostnet_050"``).
    width : float, optional
        Width multiplier of a family that takes one.
    checkpoint_path : str or os.PathLike, optional
        A ``.ckpt`` or ``.safetensors`` file; without it (and ``params``) the network keeps its
        initialisation. Also the name used in messages when ``params`` is given.
    params : mapping of str to array, optional
        The checkpoint's arrays, already read (:func:`ghosthub.weights.checkpoint.read_with_info`),
        so a caller that needs the record too reads the file once.
    num_classes : int, optional
        Classifier outputs. None: the checkpoint's (1000 without a checkpoint). Another value
        re-initialises the classifier only; 0 removes it (pooled features out).
    in_channels : int
        Image channels; 1 sums the checkpoint's RGB stem, other values must match the checkpoint.
    strict, advice : bool, str
        See :func:`ghosthub.weights.strict.load_weights`.
    **model_kwargs
        Passed on to :func:`ghosthub.architectures.create_model` (e.g. ``drop_rate``).

    Returns
    -------
    mindspore.nn.Cell
        The network in inference mode (``set_train(False)``).

    Raises
    ------
    WeightsError, CheckpointMismatchError, UnsupportedBackboneError, ArchitectureError

    Examples
    --------
    >>> net = build_network("ghostnet", 0.5, checkpoint_path="ghostnet_050-85b91860.ckpt")  # doctest: +SKIP
    >>> net = build_network("resnet18", num_classes=10)  # doctest: +SKIP
    """
    from ..architectures.build import build, check_model

    if params is None and checkpoint_path is not None:
        # Any layout; header checked against the network before a tensor is read.
        return load_network(
            checkpoint_path,
            architecture=architecture,
            width=width,
            num_classes=num_classes,
            in_channels=in_channels,
            strict=strict,
            advice=advice,
            **model_kwargs,
        )[0]
    classes = 1000 if num_classes is None else num_classes
    spec, width = check_model(architecture, width, num_classes=classes, in_channels=in_channels, **model_kwargs)
    if params is not None and num_classes is None:
        # Keep the checkpoint's classifier size (e.g. a 10-class fine-tuned model).
        classes = _classes_in(params, spec.classifier) or classes
    net = build(spec, width, num_classes=classes, in_channels=in_channels, **model_kwargs)
    if params is not None:
        if num_classes is None:
            net = _rebuilt_for_head(net, params, spec, width, in_channels, model_kwargs)
        source = os.fspath(checkpoint_path) if checkpoint_path is not None else "<checkpoint>"
        load_weights(net, params, source=source, strict=strict, advice=advice)
    net.set_train(False)
    return net


def load_network(
    path: str | os.PathLike,
    *,
    architecture: str | None = None,
    width: float | None = None,
    layout: str | None = None,
    num_classes: int | None = None,
    in_channels: int | None = None,
    strict: bool = True,
    advice: str | None = None,
    **model_kwargs,
) -> tuple[Any, WeightsPlan]:
    """Build the network a weights file holds and load it strictly.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.ckpt``, ``.safetensors`` or (with torch) ``.pth`` file, in the network's own names or
        any layout its architecture's hooks map (GhostNet: timm, the MindSpore model zoo, ...).
    architecture, width, layout : optional
        What a card or the caller says (see :func:`ghosthub.weights.plan.plan_weights`); without
        them the checkpoint's record, else the registered families' layouts, tell.
    num_classes : int, optional
        Default the checkpoint's; another value re-initialises the classifier.
    in_channels : int, optional
        Default the checkpoint's; 1 sums an RGB stem.
    strict, advice : bool, str
        See :func:`ghosthub.weights.strict.load_weights`.
    **model_kwargs
        Passed to :func:`ghosthub.architectures.create_model`.

    Returns
    -------
    net : mindspore.nn.Cell
        In inference mode.
    plan : WeightsPlan

    Examples
    --------
    >>> net, plan = load_network("ghostnetv2_100.safetensors")  # doctest: +SKIP
    >>> plan.layout, plan.architecture.family  # doctest: +SKIP
    ('timm', 'ghostnetv2')
    >>> net, plan = load_network("resnet18-1e65cd21.ckpt", architecture="resnet18", num_classes=10)  # doctest: +SKIP
    """
    from ..architectures.build import build, check_model

    plan = plan_weights(path, layout=layout, architecture=architecture, width=width)
    fit = plan.architecture
    classes = num_classes if num_classes is not None else (fit.num_classes or 1000)
    channels = fit.in_channels if in_channels is None else in_channels
    options = {**plan.options, **model_kwargs}
    try:
        spec, width = check_model(fit.family, fit.width, num_classes=classes, in_channels=channels, **options)
    except LoadError as exc:
        raise LoadError(f"{plan.path!r}: {exc}") from None
    net = build(spec, width, num_classes=classes, in_channels=channels, **options)
    if num_classes is None:
        net = _rebuilt_for_head(net, plan.mapped, spec, width, channels, options)
    held = plan.inferred
    if held is not None and (held.family, held.width) != (fit.family, fit.width):
        # The card (or caller) names another architecture than the file's own names and shapes say: say both.
        size = f" of width {held.width}" if held.width is not None else ""
        advice = (
            f"{MISMATCH_ADVICE if advice is None else advice}\nThe file holds a {held.family}{size} with "
            f"{held.num_classes} classes (ghosthub inspect FILE): ghosthub.load(PATH) builds it by itself."
        )
    # Names and shapes against the network before a single tensor is read.
    load_weights(net, plan.mapped, source=plan.path, strict=strict, check_only=True, advice=advice)
    load_weights(net, read_mapped(plan), source=plan.path, strict=strict, advice=advice)
    net.set_train(False)
    return net, plan


def _classes_in(params: Mapping[str, np.ndarray], heads) -> int | None:
    """The class count of the first of ``heads`` (classifier prefixes) the checkpoint holds."""
    for head in heads:
        weight = params.get(f"{head}.weight")
        if weight is not None:
            return int(weight.shape[0])
    return None


def _rebuilt_for_head(net, params: Mapping[str, np.ndarray], spec, width, in_channels: int, options: dict):
    """``net``, or one rebuilt with the checkpoint's class count when the network found its classifier
    under another name than its architecture said (some mindcv ``default_cfgs`` name the wrong one)."""
    from ..architectures.build import build

    actual = classifiers(net)
    if actual == spec.classifier:
        return net
    held = _classes_in(params, actual)
    if held is None or held == getattr(net, "num_classes", None):
        return net
    return build(spec, width, num_classes=held, in_channels=in_channels, **options)
