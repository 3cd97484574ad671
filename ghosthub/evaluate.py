"""Evaluation on a labelled ImageFolder: top-1, top-5, loss and images per second."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import GhostHubError

__all__ = ["EvalResult", "card_info", "evaluate", "evaluate_folder", "load_for_eval", "preprocessing_of"]


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Metrics of one evaluation.

    Attributes
    ----------
    top1, top5 : float
        Accuracy in percent (top-5 is top-k with k = min(5, classes)).
    loss : float
        Mean cross entropy (no label smoothing).
    images : int
        Images evaluated.
    seconds : float
        Wall time of the evaluation loop, data pipeline included.
    images_per_second : float
        Throughput after the first batch (which pays for graph compilation).
    """

    top1: float
    top5: float
    loss: float
    images: int
    seconds: float
    images_per_second: float

    def to_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (JSON output)."""
        return dataclasses.asdict(self)


class _Accumulator:
    """Running top-1/top-5/loss sums over batches of logits, in float64."""

    def __init__(self) -> None:
        self.n = self.correct1 = self.correct5 = 0
        self.loss = 0.0

    def add(self, logits: np.ndarray, labels: np.ndarray) -> None:
        logits = logits.astype(np.float64)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.loss += float(-log_probs[np.arange(len(labels)), labels].sum())
        k = min(5, logits.shape[1])
        # Ties broken by index (stable sort): the same logits always give the same answer.
        ranked = np.argsort(-logits, axis=1, kind="stable")[:, :k]
        self.correct1 += int((ranked[:, 0] == labels).sum())
        self.correct5 += int((ranked == labels[:, None]).any(axis=1).sum())
        self.n += len(labels)


def preprocessing_of(net: Any, info: dict | None = None) -> dict[str, Any]:
    """The eval transform settings of a network: from a checkpoint record, else ``net.default_cfg``.

    Returns
    -------
    dict
        ``image_size``, ``crop_pct``, ``interpolation``, ``mean``, ``std``.
    """
    from .preprocess import IMAGENET_DEFAULT_MEAN as IMAGENET_MEAN
    from .preprocess import IMAGENET_DEFAULT_STD as IMAGENET_STD

    cfg = dict(getattr(net, "default_cfg", None) or {})
    cfg.update({k: v for k, v in (info or {}).items() if k in ("input_size", "crop_pct", "interpolation", "mean", "std")})
    size = cfg.get("input_size", 224)
    return {
        "image_size": int(size if isinstance(size, int) else size[-1]),
        "crop_pct": float(cfg.get("crop_pct", 0.875)),
        "interpolation": cfg.get("interpolation", "bilinear"),
        "mean": tuple(cfg.get("mean", IMAGENET_MEAN)),
        "std": tuple(cfg.get("std", IMAGENET_STD)),
    }


def evaluate_folder(net: Any, folder, *, image_size: int, crop_pct: float = 0.875, interpolation: str = "bilinear",
                    mean: Sequence[float], std: Sequence[float], batch_size: int = 64, workers: int | None = None,
                    progress: bool = False) -> EvalResult:
    """Evaluate a network on a scanned split (see :func:`ghosthub.imagefolder.scan_image_folder`).

    The last batch is padded to ``batch_size`` so a compiled (graph mode) network sees one shape.
    The network is put in inference mode and left there.

    Parameters
    ----------
    net : mindspore.nn.Cell
        Maps (N, 3, S, S) float32 images to (N, classes) logits.
    folder : ghosthub.imagefolder.ImageFolder
        The labelled images.
    image_size, crop_pct, interpolation, mean, std
        The eval transform (:func:`ghosthub.imagefolder.eval_dataset`).
    batch_size : int
        Images per forward pass.
    workers : int, optional
        Data pipeline workers.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    EvalResult
    """
    import mindspore as ms
    from tqdm import tqdm

    from .imagefolder import eval_dataset

    net.set_train(False)
    data = eval_dataset(folder, image_size=image_size, crop_pct=crop_pct, interpolation=interpolation,
                        mean=mean, std=std, batch_size=batch_size, workers=workers)
    acc = _Accumulator()
    start = time.perf_counter()
    first_done, first_images = start, 0
    bar = tqdm(total=len(folder), desc="eval", unit="img", disable=not progress, leave=False)
    for i, (images, labels) in enumerate(data.create_tuple_iterator(output_numpy=True, num_epochs=1)):
        n = len(labels)
        if n < batch_size:
            images = np.concatenate([images, np.zeros((batch_size - n, *images.shape[1:]), images.dtype)])
        logits = net(ms.Tensor(images)).asnumpy()[:n]
        if logits.ndim != 2 or logits.shape[1] <= int(labels.max()):
            bar.close()
            raise GhostHubError(
                f"the network gives outputs of shape {logits.shape} but {folder.root} has labels up to "
                f"{int(labels.max())} ({len(folder.classes)} classes): evaluate a model trained on these classes."
            )
        acc.add(logits, labels.astype(np.int64))
        bar.update(n)
        if i == 0:
            first_done, first_images = time.perf_counter(), n
    bar.close()
    end = time.perf_counter()
    timed = acc.n - first_images
    rate = timed / (end - first_done) if timed and end > first_done else acc.n / max(end - start, 1e-9)
    return EvalResult(
        top1=100.0 * acc.correct1 / acc.n,
        top5=100.0 * acc.correct5 / acc.n,
        loss=acc.loss / acc.n,
        images=acc.n,
        seconds=end - start,
        images_per_second=rate,
    )


def load_for_eval(model: Any, *, arch: str | None = None, **load_kwargs: Any) -> tuple[Any, dict | None]:
    """Resolve what :func:`evaluate` was given into ``(network, checkpoint record or None)``.

    Parameters
    ----------
    model : mindspore.nn.Cell, str or os.PathLike
        A network; a checkpoint file (a ghosthub checkpoint names its architecture, any other
        needs ``arch``); or a model name, loaded with ``ghosthub.load``.
    arch : str, optional
        Model name (``ghostnet_050``) of a checkpoint without ghosthub's record (e.g. MindCV's).
    **load_kwargs
        Passed on to ``ghosthub.load`` for a model name.
    """
    from .checkpoint import read_info

    if not isinstance(model, (str, os.PathLike)):
        return model, None
    path = Path(model)
    if path.is_file():
        from .weights import build_network

        info = read_info(path)
        if info is None and arch is None:
            raise GhostHubError(
                f"checkpoint {str(path)!r} does not say which architecture it is (ghosthub train did not write "
                "it): name it with arch= (command line: eval --arch ghostnet_050, publish --width 0.5)."
            )
        backbone, width = _split_arch(arch) if arch else (info["backbone"], info["width"])
        return build_network(backbone, width, checkpoint_path=path), info
    from . import api

    name = os.fspath(model)
    card = api.get_card(name, cards=load_kwargs.get("cards", ()), hub=load_kwargs.get("hub"))
    return api.load(name, **load_kwargs), card_info(card)


def _split_arch(arch: str) -> tuple[str, float]:
    """Backbone and width from an architecture name such as ``ghostnet_050``, or a clear error."""
    from .recipe import split_model_name

    try:
        backbone, width = split_model_name(arch)
    except ValueError:
        backbone, width = None, None
    if width is None:
        raise GhostHubError(
            f"arch {arch!r} is not an architecture name with a width, such as ghostnet_050 "
            "(the backbone, then the width multiplier times 100 in three digits)."
        )
    return backbone, width


def card_info(card) -> dict[str, Any]:
    """What a model card says of preprocessing and classes, in the checkpoint record's terms."""
    from .api import preprocessing

    info: dict[str, Any] = dict(preprocessing(card))
    names = card.get("class-names")
    if isinstance(names, list):
        info["classes"] = [str(n) for n in names]
    return info


def evaluate(model: Any, data_dir: str | os.PathLike, *, arch: str | None = None, batch_size: int = 64,
             workers: int | None = None, progress: bool | None = None, **load_kwargs: Any) -> EvalResult:
    """Top-1, top-5, loss and images/s of a model on a labelled ImageFolder.

    Parameters
    ----------
    model : mindspore.nn.Cell, str or os.PathLike
        A network (preprocessing from its ``default_cfg``), a checkpoint file, or a model name.
    data_dir : str or os.PathLike
        ``DIR/val/<class>/...`` when DIR has a ``val`` folder, else ``DIR/<class>/...``. Labels are
        the class folders' indices in the model's class list (from the checkpoint), else in
        sorted order (ImageNet's synset folders sort into the standard order).
    arch : str, optional
        Model name for a checkpoint ghosthub did not write (e.g. ``ghostnet_050`` for MindCV's).
    batch_size : int
        Images per forward pass.
    workers : int, optional
        Data pipeline workers.
    progress : bool, optional
        Progress bar on stderr (default: unless ``GHOSTHUB_NO_PROGRESS=1``).
    **load_kwargs
        Passed on to ``ghosthub.load`` for a model name.

    Returns
    -------
    EvalResult

    Examples
    --------
    >>> r = evaluate("runs/digits/best.ckpt", "digits")      # doctest: +SKIP
    >>> round(r.top1, 1)                                       # doctest: +SKIP
    97.8
    """
    from . import config
    from .imagefolder import DataError, find_splits, scan_image_folder

    net, info = load_for_eval(model, arch=arch, **load_kwargs)
    train, val = find_splits(data_dir)
    if train is not None and val is None:
        raise DataError(f"{os.fspath(data_dir)!r} has a train/ folder but no val/: pass {os.fspath(Path(data_dir) / 'train')!r} "
                        "to evaluate on the training images, or add a val/ split.")
    split = val if val is not None else Path(data_dir)
    folder = scan_image_folder(split, classes=(info or {}).get("classes"))
    progress = config.show_progress(progress)
    try:
        return evaluate_folder(net, folder, batch_size=batch_size, workers=workers, progress=progress,
                               **preprocessing_of(net, info))
    finally:
        del net
