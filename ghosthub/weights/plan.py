"""What a weights file is, from its header alone: which architecture's layout, mapped how, to which network.

The order is the point: a file's header (safetensors JSON, the ``.ckpt`` protobuf fields) gives every
tensor's name, dtype and shape without reading a tensor (:mod:`ghosthub.weights.formats`); the names
give the layout, through the hooks of the architecture the card, the caller or the checkpoint's
record names (:class:`ghosthub.architectures.WeightLayouts`; for a file that names none, every
registered family's hooks are asked), the mapped names and shapes give the network, and the network
built from it is checked against those shapes. Only then are the tensors read, at a cost capped by the
file's size. A file that fits nothing fails before any tensor is read or any MindSpore import,
naming what it holds.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from ..architectures import Architecture, Fit, WeightLayouts, load_plugins, match, registered
from ..architectures.build import unknown_architecture
from ..constants import CHECKPOINT_RECORD_KEY as INFO_KEY
from ..errors import CheckpointMismatchError, WeightsError
from .formats import TensorInfo, read_arrays, record_text, scan_weights, stubs
from .state import is_training_state, split_training_state

__all__ = ["WeightsPlan", "hooks_of", "plan_tensors", "plan_weights", "read_mapped"]

_BASE = WeightLayouts()  # an architecture without hooks: its own names only


class WeightsPlan(NamedTuple):
    """What a weights file is, read from its header alone.

    Attributes
    ----------
    path : str
    format : str
        "ckpt", "safetensors" or "torch".
    layout : str
        The layout of the architecture's hooks the names are in (``native`` for its own names).
    architecture : Fit
        What to build: the architecture (``family``), its width, classes and input channels.
    options : dict
        Builder options the weights need (for GhostNet: ``upsample``, ``num_features``).
    record : dict or None
        The record a ghosthub checkpoint carries.
    tensors : dict of str to TensorInfo
        Every tensor the file declares (training state included).
    mapped : dict of str to numpy.ndarray
        Zero-memory stand-ins under the network's names, with the checkpoint's shapes.
    params : dict or None
        The arrays themselves when reading was unavoidable (a PyTorch pickle), else None.
    inferred : Fit or None
        What the shapes alone say (None when the architecture's hooks cannot tell).
    native : bool
        The names are the network's own (a checkpoint ghosthub writes needs no conversion).
    """

    path: str
    format: str
    layout: str
    architecture: Fit
    options: dict
    record: dict | None
    tensors: dict
    mapped: dict
    params: dict | None
    inferred: Fit | None = None
    native: bool = True

    @property
    def dropped(self) -> list[str]:
        """Training-state entries (optimizer slots, step counters) the load leaves out."""
        return split_training_state(self.tensors)[1]

    @property
    def parameter_count(self) -> int:
        """Trainable values of the network (BatchNorm running statistics excluded, as timm counts)."""
        return sum(
            int(np.prod(v.shape))
            for n, v in self.mapped.items()
            if not n.endswith((".moving_mean", ".moving_variance"))
        )


def hooks_of(spec: Architecture | None) -> WeightLayouts:
    """An architecture's weight-layout hooks; the base ones (its own names only) when it has none."""
    return spec.layouts if spec is not None and spec.layouts is not None else _BASE


def plan_weights(
    path: str | os.PathLike,
    *,
    layout: str | None = None,
    architecture: str | None = None,
    width: float | None = None,
) -> WeightsPlan:
    """Read a weights file's header and decide how it loads: layout, network, builder options.

    Parameters
    ----------
    path : str or os.PathLike
        ``.ckpt`` (MindSpore), ``.safetensors``, or ``.pth``/``.pth.tar`` (needs torch).
    layout : str, optional
        The layout a card names (``weights-layout:``); detected from the names otherwise, and a
        named one that the names contradict is an error.
    architecture, width : optional
        What a card or the caller says (an architecture name; a family's width); the weights must
        agree. Missing ones come from the checkpoint's record, else from its names and shapes.

    Returns
    -------
    WeightsPlan

    Raises
    ------
    WeightsError
        Unreadable file, unknown layout.
    CheckpointMismatchError
        Shapes no network explains, or that contradict ``architecture``/``width``.
    UnsupportedBackboneError
        ``architecture`` (or the record's) is not registered.
    """
    path = os.fspath(path)
    fmt, tensors, texts = scan_weights(path)
    params = None
    if tensors is None:  # a PyTorch pickle has no header: read it (torch.load, weights only)
        from .formats import read_torch

        params = read_torch(path)
        tensors = {
            n: TensorInfo(np.asarray(v).dtype.str, tuple(v.shape), int(np.asarray(v).nbytes)) for n, v in params.items()
        }
    return plan_tensors(
        tensors,
        path=path,
        fmt=fmt,
        record=record_text(texts, INFO_KEY),
        layout=layout,
        architecture=architecture,
        width=width,
        params=params,
    )


def plan_tensors(
    tensors: dict[str, TensorInfo],
    *,
    path: str = "<weights>",
    fmt: str = "ckpt",
    record: dict | None = None,
    layout: str | None = None,
    architecture: str | None = None,
    width: float | None = None,
    params: dict | None = None,
) -> WeightsPlan:
    """:func:`plan_weights` for declared tensors (names, dtypes, shapes) without a file.

    Lets a card's layout and architecture be checked against a network from a name/shape listing.
    """
    names = [n for n in tensors if n != INFO_KEY and not is_training_state(n)]
    if not names:
        raise WeightsError(
            f"{path!r}: the checkpoint holds no network parameters (only training state or nothing at all)"
        )
    named = architecture or (record or {}).get("architecture") or (record or {}).get("backbone")
    spec, fixed = _named(path, named) if named else (None, None)
    if fixed is not None:
        width = fixed if width is None else width
    hooks, found = _layout(path, spec, names)
    if layout is not None:
        if layout not in hooks.names:
            raise WeightsError(f"unknown weights layout {layout!r}: expected one of {', '.join(hooks.names)}")
        if layout != found:
            raise WeightsError(
                f"{path!r}: the card says weights-layout {layout!r} but the parameter names are "
                f"{found!r}; fix or remove the card's weights-layout"
            )
    native = found in hooks.native
    # Integer entries are checked against the network's own parameters at the strict load (some
    # networks hold integer parameters: Swin-V2's relative position index).
    mapped = hooks.to_network(stubs({n: tensors[n] for n in names}), found, shapes_only=True)
    fit, inferred = _fit(path, spec, hooks, mapped, record if native else None, width)
    options = hooks.options(mapped, found, fit.family)
    if native and record and isinstance(record.get("model_options"), dict):
        options.update(record["model_options"])  # e.g. a converted model-zoo V2's bilinear gate
    return WeightsPlan(path, fmt, found, fit, options, record, tensors, mapped, params, inferred, native)


def _named(path: str, name: str) -> tuple[Architecture, float | None]:
    """The architecture a card, a caller or a checkpoint's record names, and the width the name fixes."""
    found = match(str(name))
    if found is None:
        raise unknown_architecture(str(name), where=f"weights {path!r}: ")
    return found.architecture(), found.width


def _layout(path: str, spec: Architecture | None, names: list[str]) -> tuple[WeightLayouts, str]:
    """(hooks, layout): the named architecture's, else the first registered family whose hooks know the names."""
    if spec is not None:
        hooks = hooks_of(spec)
        try:
            return hooks, hooks.detect(names)
        except WeightsError as exc:
            raise WeightsError(f"{path!r}: {exc}") from None
    problems = []
    for attempt in range(2):
        seen = []
        for candidate in registered():
            hooks = candidate.layouts
            if hooks is None or any(hooks is s for s in seen):
                continue
            seen.append(hooks)
            try:
                return hooks, hooks.detect(names)
            except WeightsError as exc:
                problems.append(str(exc))
        if attempt == 0:
            load_plugins()  # plug-ins' families may know these names
    detail = "; ".join(dict.fromkeys(problems)) or "no registered architecture maps weights by their names"
    raise WeightsError(
        f"{path!r}: {detail}. For another architecture's weights, name it: ghosthub.load(PATH, "
        "architecture=NAME) or a card with an architecture: field"
    )


def _fit(
    path: str,
    spec: Architecture | None,
    hooks: WeightLayouts,
    mapped: dict,
    record: dict | None,
    width: float | None,
) -> tuple[Fit, Fit | None]:
    """(what to build, what the shapes say): the named architecture and width, else the record's, else
    the shapes'. A contradiction is left to the strict shape check, which names every difference."""
    try:
        inferred, problem = hooks.infer(mapped), None
    except CheckpointMismatchError as exc:
        inferred, problem = None, exc
    if spec is None:
        if inferred is None:
            raise CheckpointMismatchError(f"{path!r}: {problem}") from None
        spec = match(inferred.family).architecture()
    if spec.width:
        record = record or {}
        if width is None:
            width = record.get("width") if record.get("width") is not None else (inferred.width if inferred else None)
        if width is None:
            raise CheckpointMismatchError(
                f"{path!r}: {problem or 'the weights do not say the width of ' + repr(spec.name)}"
            ) from None
        width = float(width)
    else:
        width = None
    heads = [mapped[f"{c}.weight"] for c in spec.classifier if f"{c}.weight" in mapped]
    classes = int(heads[0].shape[0]) if heads else (inferred.num_classes if inferred else 0)
    stem = mapped.get(f"{spec.first_conv}.weight") if spec.first_conv else None
    channels = int(stem.shape[1]) if stem is not None and stem.ndim == 4 else 3
    return Fit(spec.name, width, classes, channels), inferred


def read_mapped(plan: WeightsPlan) -> dict[str, np.ndarray]:
    """The file's tensors under the network's names (training state dropped, layouts mapped): read once, now."""
    params = plan.params
    if params is None:
        params = read_arrays(plan.path, plan.format, plan.tensors)
    params.pop(INFO_KEY, None)
    params, _ = split_training_state(params)
    found = match(plan.architecture.family, plugins=False)
    return hooks_of(found.architecture() if found else None).to_network(params, plan.layout)
