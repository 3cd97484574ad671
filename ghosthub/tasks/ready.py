"""A model ready to run: a name, a weights file or a network, with its eval preprocessing and class names.

Predict, evaluate, export and the demo all start here (:func:`load_for_inference`), so a model
name, a checkpoint file and a network in hand are told apart in one place, and the class names
fall back the same way everywhere.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from .._utils.warn import warn
from ..errors import PreprocessingWarning
from ..preprocessing import Preprocessing
from ..runtime import make_ready

__all__ = ["ReadyModel", "class_names", "load_for_inference", "network_preprocessing"]


class ReadyModel(NamedTuple):
    """A network with what running it takes: its eval preprocessing and the class names it records.

    Attributes
    ----------
    net : mindspore.nn.Cell
        In inference mode, made ready as asked (compiled, BatchNorm folded, or ONNX Runtime).
    preprocessing : Preprocessing
        The eval preprocessing of its checkpoint's record or card, else of its ``default_cfg``.
    classes : list of str or None
        The class names its checkpoint or card records, in output order; None when neither does.
    """

    net: Any
    preprocessing: Preprocessing
    classes: list[str] | None

    def class_names(self) -> list[str]:
        """Names for every output of the network (see :func:`class_names`)."""
        return class_names(self.classes, self.net.num_classes)


def network_preprocessing(net: Any, info: dict | None = None) -> Preprocessing:
    """A network's eval preprocessing: a checkpoint record's (or a card's, in record terms), else its default_cfg."""
    return Preprocessing.from_record(info, default=Preprocessing.from_record(getattr(net, "default_cfg", None)))


def class_names(classes: Sequence[str] | None, num_classes: int) -> list[str]:
    """Names for ``num_classes`` outputs: ``classes`` when they fit, else ImageNet-1k's (1000 outputs) or indices.

    Examples
    --------
    >>> class_names(["cat", "dog"], 2), class_names(["cat"], 3), class_names(None, 1000)[:2]
    (['cat', 'dog'], ['0', '1', '2'], ['tench', 'goldfish'])
    """
    if classes is not None and len(classes) == num_classes:
        return [str(c) for c in classes]
    if num_classes == 1000:
        from ..data.classes import imagenet_classes

        return imagenet_classes()
    return [str(i) for i in range(num_classes)]


def load_for_inference(
    client,
    model: Any,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    arch: str | None = None,
    mode: str = "auto",
    fuse: bool = True,
    runtime: str = "mindspore",
    **load_kwargs,
) -> ReadyModel:
    """A model to predict, evaluate or export with: the network, its preprocessing and its class names.

    Parameters
    ----------
    client : ghosthub.Client
        The session whose cards, cache and settings a model name is loaded with.
    model : str, os.PathLike or mindspore.nn.Cell
        A model name (the card gives preprocessing and classes), a checkpoint file (ghosthub's
        record, else its shapes, say the architecture; ``arch`` names it otherwise), or a
        network, used as it is (preprocessing from its ``default_cfg``).
    checkpoint_path : str or os.PathLike, optional
        With a model name: load this local file into the card's architecture; the file's
        record (input size, mean/std, classes), when it has one, wins over the card, and a
        PreprocessingWarning says where they differ.
    arch : str, optional
        For a checkpoint file: a model name such as ``ghostnet_050`` naming its architecture.
    mode, fuse, runtime
        How the loaded network is made ready (:func:`ghosthub.runtime.make_ready`); default a
        compiled forward with BatchNorm folded. A network passed in is not changed.
    **load_kwargs
        Passed to :meth:`ghosthub.Client.load` for a model name (``num_classes``, ``offline`` ...).

    Returns
    -------
    ReadyModel
        ``(net, preprocessing, classes)``; ``.class_names()`` names every output.

    Raises
    ------
    LoadError
        ``arch`` names no architecture, or a family's without its width.
    ModelNotFoundError, DownloadError, WeightsError, CheckpointMismatchError
        As :meth:`ghosthub.Client.load` raises them.

    Examples
    --------
    >>> ready = load_for_inference(ghosthub.Client(), "ghostnet_050")  # doctest: +SKIP
    >>> ready.preprocessing.input_size, ready.class_names()[:1]  # doctest: +SKIP
    (224, ['tench'])
    """
    if not isinstance(model, (str, os.PathLike)):
        return ReadyModel(model, network_preprocessing(model), None)
    ready = {"mode": mode, "fuse": fuse, "runtime": runtime}
    if checkpoint_path is None and Path(model).is_file():
        from ..architectures import using_cache
        from ..weights.network import load_network

        # The record ghosthub wrote, else the weights' own names and shapes, say the architecture unless arch does.
        with using_cache(client.settings.cache_dir):  # what architectures learn stays in this Client's cache
            net, plan = load_network(model, **_architecture(arch))
        return ReadyModel(
            make_ready(net, client.settings.cache_dir, **ready),
            network_preprocessing(net, plan.record),
            _listed((plan.record or {}).get("classes")),
        )
    name = os.fspath(model)
    card = client.preprocessing(name)
    carded = _listed(client.entry(name).get("class-names"))
    if checkpoint_path is None:
        return ReadyModel(client.load(name, **ready, **load_kwargs), card, carded)
    from ..weights.checkpoint import read_info

    net = client.load(name, pretrained=False, checkpoint_path=checkpoint_path, **ready, **load_kwargs)
    info = read_info(checkpoint_path) or {}
    pre = Preprocessing.from_record(info, default=card)
    if pre != card:
        changed = ", ".join(
            f"{k} {getattr(pre, k)} (card: {getattr(card, k)})"
            for k in pre._fields
            if getattr(pre, k) != getattr(card, k)
        )
        warn(
            f"{checkpoint_path} records other preprocessing than the card of {name}: {changed}; using the checkpoint's",
            PreprocessingWarning,
        )
    return ReadyModel(net, pre, _listed(info.get("classes")) or carded)


def _architecture(arch: str | None) -> dict[str, Any]:
    """``architecture`` and ``width`` for :func:`ghosthub.weights.network.load_network` from a name such as
    ghostnet_050 (a family and its width) or resnet18 (an architecture that takes none)."""
    if not arch:
        return {}
    from ..architectures import named_architecture

    found = named_architecture(arch)
    return {"architecture": found.name, "width": found.width}


def _listed(names: Any) -> list[str] | None:
    """Class names as a card (a list, or text separated by commas) or a checkpoint record holds them."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    return [str(n) for n in names] if isinstance(names, list) and names else None
