"""Evaluation on a labelled ImageFolder: top-1, top-5, loss and images per second."""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import config
from ..data.imagefolder import ImageFolder, find_splits, scan_image_folder
from ..data.pipelines import eval_dataset
from ..errors import DataError
from ..preprocessing import Preprocessing
from .ready import load_for_inference, network_preprocessing

__all__ = ["EvalResult", "evaluate", "evaluate_folder", "evaluate_model"]

logger = logging.getLogger(__name__)


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


def evaluate_folder(
    net: Any,
    folder: ImageFolder,
    preprocessing: Preprocessing,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = False,
) -> EvalResult:
    """Evaluate a network on a scanned split (see :func:`ghosthub.data.imagefolder.scan_image_folder`).

    The last batch is padded to ``batch_size`` so a compiled (graph mode) network sees one shape.
    The network is put in inference mode and left there.

    Parameters
    ----------
    net : mindspore.nn.Cell
        Maps (N, 3, S, S) float32 images to (N, classes) logits.
    folder : ghosthub.data.imagefolder.ImageFolder
        The labelled images.
    preprocessing : Preprocessing
        The eval transform (:func:`ghosthub.data.pipelines.eval_dataset`).
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

    net.set_train(False)
    data = eval_dataset(folder, preprocessing, batch_size=batch_size, workers=workers)
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
            raise DataError(
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


def evaluate(
    net: Any,
    data_dir: str | os.PathLike,
    *,
    preprocessing: Preprocessing | None = None,
    classes: Sequence[str] | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool | None = None,
) -> EvalResult:
    """Top-1, top-5, loss and images/s of a network on a labelled ImageFolder.

    To evaluate by model name or checkpoint file, use :func:`evaluate_model` (or
    :func:`ghosthub.evaluate`), which loads the network and its preprocessing first.

    Parameters
    ----------
    net : mindspore.nn.Cell
        The network, mapping (N, 3, S, S) images to (N, classes) logits.
    data_dir : str or os.PathLike
        ``DIR/val/<class>/...`` when DIR has a ``val`` folder, else ``DIR/<class>/...``. Labels are
        the class folders' indices in ``classes``, else in sorted order (ImageNet's synset
        folders sort into the standard order).
    preprocessing : Preprocessing, optional
        The eval transform; default the network's ``default_cfg``.
    classes : sequence of str, optional
        The model's class names, in its output order.
    batch_size : int
        Images per forward pass.
    workers : int, optional
        Data pipeline workers.
    progress : bool, optional
        Progress bar on stderr (default: unless ``GHOSTHUB_NO_PROGRESS=1``).

    Returns
    -------
    EvalResult

    Examples
    --------
    >>> r = evaluate(net, "digits")                          # doctest: +SKIP
    >>> round(r.top1, 1)                                       # doctest: +SKIP
    97.8
    """
    train, val = find_splits(data_dir)
    if train is not None and val is None:
        raise DataError(
            f"{os.fspath(data_dir)!r} has a train/ folder but no val/: pass {os.fspath(Path(data_dir) / 'train')!r} "
            "to evaluate on the training images, or add a val/ split."
        )
    split = val if val is not None else Path(data_dir)
    folder = scan_image_folder(split, classes=classes)
    bar = config.show_progress(progress)
    if not bar:  # a line where no progress bar shows the work (a pipe, a log file)
        logger.info("evaluating on %d images in %s", len(folder), split)
    result = evaluate_folder(
        net,
        folder,
        preprocessing or network_preprocessing(net),
        batch_size=batch_size,
        workers=workers,
        progress=bar,
    )
    if not bar:
        logger.info(
            "evaluated %d images: top-1 %.2f%%  top-5 %.2f%%  (%.1f s)",
            result.images,
            result.top1,
            result.top5,
            result.seconds,
        )
    return result


def evaluate_model(
    client,
    model: Any,
    data_dir: str | os.PathLike,
    *,
    arch: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool | None = None,
    mode: str = "auto",
    runtime: str = "mindspore",
    **load_kwargs,
) -> EvalResult:
    """Top-1, top-5, loss and images/s of a model name, checkpoint file or network on a labelled ImageFolder.

    The model is loaded with its preprocessing and class names (:func:`ghosthub.tasks.ready.load_for_inference`):
    a name through ``client`` (its cards, cache and settings), a file by what it records or holds.

    Parameters
    ----------
    client : ghosthub.Client
        The session to load a model name with; its ``progress`` setting is the default.
    model : mindspore.nn.Cell, str or os.PathLike
        A network (run as it is; preprocessing from its ``default_cfg``), a checkpoint file, or a model name.
    data_dir : str or os.PathLike
        ``DIR/val/<class>/...`` when DIR has a ``val`` folder, else ``DIR/<class>/...``.
    arch : str, optional
        Model name for a checkpoint whose architecture its shapes do not settle.
    batch_size, workers, progress
        See :func:`evaluate`.
    mode, runtime : str
        How a loaded network runs (:func:`ghosthub.runtime.make_ready`; default compiled, BatchNorm folded).
    **load_kwargs
        Passed to :meth:`ghosthub.Client.load` for a model name.

    Returns
    -------
    EvalResult

    Raises
    ------
    DataError
        ``data_dir`` is not a labelled ImageFolder, or its labels exceed the model's classes.
    LoadError, ModelNotFoundError, DownloadError, WeightsError
        The model cannot be loaded (see :meth:`ghosthub.Client.load`).

    Examples
    --------
    >>> round(evaluate_model(ghosthub.Client(), "runs/digits/best.ckpt", "digits").top1, 1)  # doctest: +SKIP
    97.5
    """
    ready = load_for_inference(client, model, arch=arch, mode=mode, runtime=runtime, **load_kwargs)
    try:
        return evaluate(
            ready.net,
            data_dir,
            preprocessing=ready.preprocessing,
            classes=ready.classes,
            batch_size=batch_size,
            workers=workers,
            progress=client.settings.progress if progress is None else progress,
        )
    finally:
        del ready
        gc.collect()
