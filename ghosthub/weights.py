"""Checkpoint -> network: read .ckpt / .safetensors files, load strictly, adapt head and stem."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Mapping, NamedTuple

import numpy as np

from .errors import CheckpointMismatchError, WeightsError

logger = logging.getLogger(__name__)

# Entries a MindSpore / MindCV *training* checkpoint holds besides the network's parameters
# (measured with MindSpore 2.10 and MindCV 0.3.0 by saving their train-step cells):
# scalars of the optimizer, learning-rate schedule, loss scaler, MindCV's TrainStep and
# ModelCheckpoint's append_info ...
TRAINING_SCALARS = frozenset({
    "learning_rate", "global_step", "momentum",           # every nn.Optimizer; SGD/Momentum
    "beta1_power", "beta2_power", "mu_schedule",          # Adam, AdamW, Lion, NAdam
    "scale_sense",                                        # loss scale (TrainOneStepWithLossScaleCell)
    "current_iterator_step", "last_overflow_iterator_step",  # DynamicLossScaleUpdateCell
    "updates",                                            # MindCV TrainStep's EMA step counter
    "epoch_num", "step_num",                              # ModelCheckpoint append_info
})
# ... and per-parameter copies named "<slot>.<parameter name>": optimizer slots (Momentum
# moments; SGD accum/stat; Adam moment1/2; MindCV AdamW adam_m/v, Lion lion_m, NAdam nadam_m/v,
# Adan moment1/2/3 + prev_gradient; RMSProp mean_square/moment/mean_grad; Lamb lamb_m/v;
# Adagrad accum) and MindCV's EMA weights ("ema.", used only when MindCV evaluates with --ema).
TRAINING_SLOT_PREFIXES = (
    "moments.", "accum.", "stat.", "moment1.", "moment2.", "moment3.", "prev_gradient.",
    "adam_m.", "adam_v.", "lion_m.", "nadam_m.", "nadam_v.", "lamb_m.", "lamb_v.",
    "mean_square.", "moment.", "mean_grad.", "ema.",
)

_SHOW = 10  # keys listed per kind in a mismatch message


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


def sniff_format(path: str) -> str:
    """'safetensors' when the file starts with a safetensors header, else 'ckpt' (protobuf)."""
    with open(path, "rb") as f:
        head = f.read(9)
    # safetensors: an 8-byte little-endian header length (at most 100 MiB by its spec), then a
    # JSON object. A protobuf .ckpt starts with a field tag and a parameter name instead.
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") <= 100 * 2**20:
        return "safetensors"
    return "ckpt"


def load_raw(path: str, fmt: str) -> dict:
    """mindspore.load_checkpoint, which insists the file name ends in .ckpt / .safetensors."""
    import mindspore as ms

    if path.endswith("." + fmt):
        return ms.load_checkpoint(path, format=fmt)
    with tempfile.TemporaryDirectory(prefix="ghosthub-ckpt-") as tmp:
        alias = os.path.join(tmp, "checkpoint." + fmt)
        try:
            os.symlink(os.path.abspath(path), alias)
        except OSError:  # no symlinks (e.g. Windows without the privilege)
            shutil.copyfile(path, alias)
        return ms.load_checkpoint(alias, format=fmt)


def _to_numpy(value) -> np.ndarray:
    try:
        return value.asnumpy()
    except TypeError:  # bfloat16 has no numpy dtype
        import mindspore as ms

        return value.astype(ms.float32).asnumpy()


def read_checkpoint(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a MindSpore checkpoint into a name -> array mapping.

    Both MindSpore's protobuf ``.ckpt`` and ``.safetensors`` are read, told apart by content
    (not by file name), through ``mindspore.load_checkpoint``.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file.

    Returns
    -------
    dict of str to numpy.ndarray
        Every tensor in the file, by parameter name, in file order (training state included;
        see :func:`split_training_state`). Non-tensor entries (strings) are left out.

    Raises
    ------
    WeightsError
        The file is missing, empty, not a checkpoint, truncated or corrupt.

    Examples
    --------
    >>> params = read_checkpoint("ghostnet_050-85b91860.ckpt")      # doctest: +SKIP
    >>> params["conv_stem.weight"].shape                             # doctest: +SKIP
    (8, 3, 3, 3)
    """
    path = os.fspath(path)
    advice = ("Delete it and download it again (the card's sha256 tells whether the download is "
              "complete), or pass the path of a valid MindSpore .ckpt or .safetensors checkpoint.")
    if not os.path.exists(path):
        raise WeightsError(f"checkpoint {path!r} does not exist: check the path, or download the model first.")
    if not os.path.isfile(path):
        raise WeightsError(f"checkpoint {path!r} is not a regular file (a directory?): pass the file itself.")
    size = os.path.getsize(path)
    if size == 0:
        raise WeightsError(f"checkpoint {path!r} is empty (0 bytes), expected a MindSpore checkpoint. {advice}")
    fmt = sniff_format(path)
    try:
        raw = load_raw(path, fmt)
    except Exception as e:  # MindSpore raises ValueError/TypeError/RuntimeError with long texts
        logger.debug("mindspore.load_checkpoint(%r) failed", path, exc_info=True)
        reason = str(e).strip().splitlines()[0].rstrip(".") if str(e).strip() else type(e).__name__
        raise WeightsError(
            f"cannot read checkpoint {path!r} ({size} bytes, read as {fmt}): {reason}. "
            f"The file is truncated, corrupt or not a MindSpore checkpoint. {advice}"
        ) from None
    params = {name: _to_numpy(value) for name, value in raw.items() if hasattr(value, "asnumpy")}
    if not params:
        raise WeightsError(f"checkpoint {path!r} ({size} bytes) holds no tensors. {advice}")
    return params


def split_training_state(params: Mapping[str, np.ndarray]) -> tuple[dict, list[str]]:
    """Separate network parameters from optimizer, loss-scale, EMA and step entries.

    Parameters
    ----------
    params : mapping of str to array
        A checkpoint as returned by :func:`read_checkpoint`.

    Returns
    -------
    network : dict
        The remaining entries (what a network may load).
    ignored : list of str
        The names recognised as training state (``TRAINING_SCALARS``, ``TRAINING_SLOT_PREFIXES``).
    """
    network, ignored = {}, []
    for name, value in params.items():
        if name in TRAINING_SCALARS or name.startswith(TRAINING_SLOT_PREFIXES):
            ignored.append(name)
        else:
            network[name] = value
    return network, ignored


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
    usable = f"in_channels={ckpt_in} or 1 (the stem summed over its input channels)" if ckpt_in > 1 \
        else "in_channels=1"
    raise WeightsError(
        f"checkpoint {source!r} has a {ckpt_in}-channel stem ({name} {tuple(weight.shape)}) but the network "
        f"expects in_channels={net_in}: only {usable} can use these weights. Pass that in_channels, "
        "or build the network without pretrained weights."
    )


def load_weights(net, params: Mapping[str, np.ndarray], *, source: str = "<checkpoint>",
                 strict: bool = True) -> LoadResult:
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
    if ignored:
        logger.info("Ignoring %d training-state entries in %s (optimizer, loss scale, EMA, step counters)",
                    len(ignored), source)

    # A classifier resized for another number of classes (or removed) starts from scratch.
    reinitialized = []
    head = [f"{classifier}.weight", f"{classifier}.bias"]
    if head[0] in ckpt and shapes.get(head[0], ())[:1] != ckpt[head[0]].shape[:1]:
        old = ckpt[head[0]].shape[0]
        for name in head:
            ckpt.pop(name, None)
        reinitialized = [name for name in head if name in shapes]
        if reinitialized:
            logger.info("Checkpoint %s has a %d-class classifier; re-initialising %s for num_classes=%s",
                        source, old, classifier, getattr(net, "num_classes", "?"))
        else:
            logger.info("Dropping the %d-class classifier of %s: the network has none", old, source)
    _adapt_stem(ckpt, f"{first_conv}.weight", shapes.get(f"{first_conv}.weight", ()), source)

    missing = [n for n in shapes if n not in ckpt and n not in reinitialized]
    unexpected = [n for n in ckpt if n not in shapes]
    mismatched = [n for n in shapes if n in ckpt and tuple(ckpt[n].shape) != shapes[n]]
    if missing or unexpected or mismatched:
        message = (f"checkpoint {source!r} does not fit {_describe(net)}:"
                   + _listing("missing keys (in the network, not in the checkpoint)", missing)
                   + _listing("unexpected keys (in the checkpoint, not in the network)", unexpected)
                   + _listing("shape mismatches (checkpoint vs network)",
                              [f"{n} {tuple(ckpt[n].shape)} vs {shapes[n]}" for n in mismatched]))
        if strict:
            error = CheckpointMismatchError(
                message + "\nCheck that the model card's backbone-name and width match the checkpoint "
                "(ghostnet_050 weights need width 0.5), or pass strict=False to load only the matching part."
            )
            error.missing, error.unexpected, error.mismatched = missing, unexpected, mismatched
            raise error
        logger.warning("%s\nLoading the %d matching tensors only (strict=False).", message,
                       len(shapes) - len(missing) - len(mismatched) - len(reinitialized))

    loaded = []
    for name, param in targets.items():
        if name in ckpt and name not in mismatched:
            param.set_data(ms.Tensor(np.asarray(ckpt[name]), dtype=param.dtype))
            loaded.append(name)
    return LoadResult(loaded, reinitialized, ignored)


def build_network(backbone: str, width: float | None = None, *, checkpoint_path: str | os.PathLike | None = None,
                  num_classes: int | None = None, in_channels: int = 3, strict: bool = True, **model_kwargs):
    """Create a network and load a local checkpoint into it; ready for inference.

    No download happens here: ``checkpoint_path`` is a local file (``ghosthub.load`` fetches it).

    Parameters
    ----------
    backbone : str
        Backbone name from the model card (``"ghostnet"``) or a variant name (``"ghostnet_050"``).
    width : float, optional
        Width multiplier (see :func:`ghosthub.models.parse_width`).
    checkpoint_path : str or os.PathLike, optional
        A ``.ckpt`` or ``.safetensors`` file; without it the network keeps its initialisation.
    num_classes : int, optional
        Classifier outputs. None: the checkpoint's (1000 without a checkpoint). Another value
        re-initialises the classifier only; 0 removes it (pooled features out).
    in_channels : int
        Image channels; 1 sums the checkpoint's RGB stem, other values must match the checkpoint.
    strict : bool
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
    from .models import create_model

    params = None
    if checkpoint_path is not None:
        # Read first: a bad file fails before time is spent building the network.
        params = read_checkpoint(checkpoint_path)
    net = create_model(backbone, width, num_classes=1000 if num_classes is None else num_classes,
                       in_channels=in_channels, **model_kwargs)
    if params is not None:
        if num_classes is None:
            # Keep the checkpoint's classifier size (e.g. a 10-class fine-tuned model).
            head = params.get(f"{_classifier_name(net)}.weight")
            if head is not None and head.shape[0] != net.num_classes:
                net.reset_classifier(int(head.shape[0]))
        load_weights(net, params, source=os.fspath(checkpoint_path), strict=strict)
    net.set_train(False)
    return net
