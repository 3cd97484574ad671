"""Running a loaded network: top-k predictions on images, and export to MindIR/ONNX."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._utils.fs import FILE_MODE, commit
from ..architectures import architecture_of
from ..errors import ExportError, ImageError, LoadError

__all__ = [
    "EXPORT_FORMATS",
    "Prediction",
    "choose_mode",
    "embed_images",
    "export_network",
    "predict_images",
    "set_mode",
]

EXPORT_FORMATS = {"MINDIR": ".mindir", "ONNX": ".onnx", "AIR": ".air"}


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The top-k classes of one image, best first."""

    image: str
    top: list[tuple[int, str, float]]  # (class index, class name, probability)


# Graph mode runs GhostNet 2-5x faster on CPU than PyNative (bench/bench_inference.py: width 0.5,
# 224 px, 2 cores: 37 vs 10 images/s at batch 1, 80 vs 41 at batch 32) but compiles for 5-6 s
# first; in batches of 32 that pays off from a few hundred images.
GRAPH_FROM_IMAGES = 256


def choose_mode(mode: str, images: int) -> str:
    """The execution mode for ``images`` images: ``auto`` picks the one that finishes first."""
    if mode != "auto":
        return mode
    return "graph" if images >= GRAPH_FROM_IMAGES else "pynative"


def set_mode(mode: str) -> None:
    """Run MindSpore in ``pynative`` (no compile step; fastest for a few images on CPU) or ``graph`` mode."""
    import mindspore as ms

    modes = {"pynative": ms.PYNATIVE_MODE, "graph": ms.GRAPH_MODE}
    if mode not in modes:
        raise LoadError(f"unknown mode {mode!r}; expected pynative or graph")
    ms.set_context(mode=modes[mode])


def image_files(paths: Sequence[str | os.PathLike]) -> list[str]:
    """The image files ``paths`` name: files as given, folders expanded to their image files (sorted, recursive).

    Raises ImageError for a path that does not exist or a folder without images.
    """
    from ..data.imagefolder import IMAGE_SUFFIXES

    found: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = []
            for root, dirs, files in os.walk(path):  # links to folders are not followed: no loops
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                inside += [
                    os.path.join(root, f)
                    for f in sorted(files)
                    if f.lower().endswith(IMAGE_SUFFIXES) and not f.startswith(".")
                ]
            if not inside:
                raise ImageError(f"{path} is a folder without image files ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
            found += inside
        elif path.exists():
            found.append(str(path))
        else:
            raise ImageError(f"{path}: no such file or folder")
    return found


def predict_images(
    net,
    images: Sequence[str | os.PathLike],
    transform: Callable,
    class_names: Sequence[str],
    *,
    topk: int = 5,
    batch_size: int = 32,
) -> list[Prediction]:
    """Top-k softmax probabilities of ``net`` for each image file, in batches.

    Examples
    --------
    >>> net = ghosthub.load("ghostnet_050")  # doctest: +SKIP
    >>> predict_images(net, ["cat.jpg"], ghosthub.transforms("ghostnet_050"), imagenet_classes())  # doctest: +SKIP
    [Prediction(image='cat.jpg', top=[(281, 'tabby', 0.61), ...])]
    """
    import mindspore as ms

    topk = max(1, min(topk, len(class_names)))
    results = []
    for start in range(0, len(images), batch_size):
        chunk = [str(p) for p in images[start : start + batch_size]]
        batch = np.stack([transform(p) for p in chunk])
        logits = net(ms.Tensor(batch)).asnumpy().astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        for path, row in zip(chunk, probs):
            best = np.argsort(-row, kind="stable")[:topk]
            results.append(Prediction(path, [(int(i), class_names[i], float(row[i])) for i in best]))
    return results


def embed_images(net, images: Sequence[str | os.PathLike], transform: Callable, *, batch_size: int = 32) -> np.ndarray:
    """Pooled features of each image file: ``forward_head(forward_features(x), pre_logits=True)``, in batches.

    The vectors a classifier trained elsewhere (scikit-learn, ...) takes as input: one row of
    ``net.num_features`` float32 values per image, in the order given.

    Examples
    --------
    >>> net = ghosthub.load("ghostnet_050")  # doctest: +SKIP
    >>> embed_images(net, ["cat.jpg", "dog.jpg"], ghosthub.transforms("ghostnet_050")).shape  # doctest: +SKIP
    (2, 1280)
    """
    import mindspore as ms

    net.set_train(False)
    rows = []
    for start in range(0, len(images), batch_size):
        batch = np.stack([transform(str(p)) for p in images[start : start + batch_size]])
        features = net.forward_head(net.forward_features(ms.Tensor(batch)), pre_logits=True)
        rows.append(features.asnumpy().astype(np.float32).reshape(len(batch), -1))
    if not rows:
        return np.zeros((0, getattr(net, "num_features", 0)), np.float32)
    return np.concatenate(rows)


def export_network(net, out: str | os.PathLike, *, file_format: str = "MINDIR", input_shape: Sequence[int]) -> Path:
    """Export ``net`` with MindSpore for an input of ``input_shape`` (N, C, H, W); the file appears whole or not at all.

    Examples
    --------
    >>> export_network(ghosthub.load("ghostnet_050"), "g.mindir", input_shape=(1, 3, 224, 224))  # doctest: +SKIP
    PosixPath('g.mindir')
    """
    import mindspore as ms

    fmt = file_format.upper()
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"cannot export to {file_format!r}; expected one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # An architecture whose operators ONNX lacks spells them with others for the export (its onnx_form hook).
    spec = architecture_of(net) if fmt == "ONNX" else None
    onnx_form = spec.onnx_form if spec is not None else None
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        stem = Path(tmp) / "model"
        if onnx_form is not None:
            onnx_form(net, True)
        try:
            ms.export(net, ms.Tensor(np.zeros(tuple(input_shape), np.float32)), file_name=str(stem), file_format=fmt)
        except Exception as exc:  # MindSpore raises RuntimeError/ValueError/TypeError by backend
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(f"MindSpore could not export to {fmt} on this machine: {first}") from exc
        finally:
            if onnx_form is not None:
                onnx_form(net, False)
        produced = [p for p in Path(tmp).iterdir() if p.name.startswith("model")]
        if len(produced) != 1:
            raise ExportError(f"MindSpore wrote {len(produced)} files for {fmt}; expected one")
        os.chmod(produced[0], FILE_MODE)  # MindSpore writes 0400; a web server under another user must read it
        commit(produced[0], out)
    return out
