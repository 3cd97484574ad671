"""ImageFolder data: scan class folders, check their images, and digest them.

Layout: ``DIR/train/<class>/<image>`` and ``DIR/val/<class>/<image>``; class folders sorted by
name give the label indices. Every image is read and decoded once while scanning, so files that
are empty, not images, truncated or in a format MindSpore's decoder lacks are skipped with a
reason instead of stopping training half-way through an epoch.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

from .._utils.fs import NotRegularFile, open_regular
from ..errors import DataError, DataWarning

__all__ = [
    "ImageFolder",
    "scan_image_folder",
    "find_splits",
    "scan_splits",
    "dataset_digest",
    "combined_digest",
]

logger = logging.getLogger(__name__)

# Suffixes looked at while scanning; other files (README.txt, .DS_Store) are not images.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp", ".gif")
# What Pillow calls the formats MindSpore's Decode reads (WebP and GIF it cannot).
DECODABLE_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "PPM", "MPO")


@dataclasses.dataclass(frozen=True)
class ImageFolder:
    """The images of one split, as scanned.

    Attributes
    ----------
    root : Path
        The split folder (``DIR/train``).
    classes : tuple of str
        Class folder names; a sample's label is its class's index here.
    samples : tuple of (str, int)
        Image path relative to ``root`` (``/``-separated) and label, sorted.
    sha256 : tuple of str
        SHA-256 of each sample's bytes.
    skipped : tuple of (str, str)
        Relative path and reason of every image file left out.
    """

    root: Path
    classes: tuple
    samples: tuple
    sha256: tuple
    skipped: tuple = ()

    def __len__(self) -> int:
        return len(self.samples)

    def manifest(self) -> str:
        """One line per sample, ``path<TAB>label<TAB>sha256``: what the digest covers."""
        return "".join(f"{p}\t{label}\t{h}\n" for (p, label), h in zip(self.samples, self.sha256))

    def digest(self) -> str:
        """SHA-256 of :meth:`manifest`: the same files, labels and bytes give the same digest."""
        return hashlib.sha256(self.manifest().encode()).hexdigest()

    def skipped_summary(self) -> str:
        """``'skipped 2 of 40 image files (a/x.jpg: empty file; ...)'`` or ``''`` when none were."""
        if not self.skipped:
            return ""
        shown = "; ".join(f"{p}: {why}" for p, why in self.skipped[:5])
        more = f"; and {len(self.skipped) - 5} more" if len(self.skipped) > 5 else ""
        return (
            f"skipped {len(self.skipped)} of {len(self.skipped) + len(self.samples)} image files "
            f"in {self.root} ({shown}{more})"
        )


# ---------------------------------------------------------------------------- scanning


def _check_image(f) -> str | None:
    """None when the open file decodes as an image MindSpore can read, else the reason it does not.

    Pillow reads from the file as decoding needs: a junk file is refused on its
    header, however large it is, and nothing is ever held whole in memory.
    """
    from PIL import Image

    try:
        with Image.open(f) as img:
            fmt = img.format
            if fmt not in DECODABLE_FORMATS:
                return f"{fmt} is not a format MindSpore decodes; convert it to JPEG or PNG"
            if fmt == "JPEG":
                img.draft("RGB", (64, 64))  # decode at 1/8 scale: still reads every byte
            img.load()
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, DecompressionBombError...
        return f"not a readable image ({str(exc) or type(exc).__name__})"
    return None


def _read_and_check(path: Path) -> tuple[str | None, str | None]:
    """(sha256, None) for a good image, (None, reason) for a bad one; the file is streamed, never read whole."""
    try:
        with open_regular(path) as f:  # a FIFO named x.png would block the open itself
            if os.fstat(f.fileno()).st_size == 0:
                return None, "empty file"
            reason = _check_image(f)
            if reason:
                return None, reason
            f.seek(0)
            digest = hashlib.sha256()
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except NotRegularFile as exc:
        return None, f"{exc.kind}, not a regular file"
    except OSError as exc:
        return None, f"cannot read ({exc.strerror or exc})"
    return digest.hexdigest(), None


def _class_files(root: Path, class_dir: Path, skipped_links: list[str]) -> list[Path]:
    """The candidate image files of one class folder, sorted as ``os.walk`` would find them.

    Folder links inside a class are followed only when they lead out of the data
    folder and into no folder already entered: ``ln -s .. train/a/loop`` would
    otherwise count every class's images again, labelled ``a``, or loop.
    """
    real_root = os.path.realpath(root)
    seen = {os.path.realpath(class_dir)}
    found = []
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        dirnames.sort()
        kept = []
        for name in dirnames:
            sub = os.path.join(dirpath, name)
            real = os.path.realpath(sub)
            inside = os.path.commonpath([real_root, real]) == real_root
            above = (os.path.realpath(dirpath) + os.sep).startswith(real + os.sep)  # an ancestor: a loop
            if os.path.islink(sub) and (real in seen or inside or above or real_root.startswith(real + os.sep)):
                skipped_links.append(Path(sub).relative_to(root).as_posix())
                continue
            if real in seen:
                continue
            seen.add(real)
            kept.append(name)
        dirnames[:] = kept
        for filename in sorted(filenames):
            if filename.lower().endswith(IMAGE_SUFFIXES) and not filename.startswith("."):
                found.append(Path(dirpath, filename))
    return found


def scan_image_folder(
    root: str | os.PathLike, *, classes: Sequence[str] | None = None, threads: int | None = None
) -> ImageFolder:
    """Find, read and check the images of an ImageFolder split.

    Parameters
    ----------
    root : str or os.PathLike
        A folder holding one sub-folder per class (``DIR/train``).
    classes : sequence of str, optional
        The class list to label with (the training split's, when scanning ``val``). Default:
        the sorted names of the sub-folders of ``root``.
    threads : int, optional
        Threads reading and decoding images (default: the CPU count).

    Returns
    -------
    ImageFolder

    Raises
    ------
    DataError
        ``root`` is missing, has no class folders, has a class folder not in ``classes``, or no
        readable image at all.

    Examples
    --------
    >>> folder = scan_image_folder("digits/train")         # doctest: +SKIP
    >>> folder.classes[:3], len(folder)                     # doctest: +SKIP
    (('0', '1', '2'), 1437)
    """
    root = Path(root)
    layout = "the ImageFolder layout ROOT/<class>/<image>, e.g. ROOT/cat/001.jpg"
    if not root.is_dir():
        raise DataError(f"data folder {str(root)!r} does not exist or is not a folder: expected {layout}.")
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        raise DataError(f"data folder {str(root)!r} has no class folders: expected {layout}.")
    if classes is None:
        classes = found
    classes = tuple(classes)
    index = {name: i for i, name in enumerate(classes)}
    unknown = [name for name in found if name not in index]
    if unknown:
        raise DataError(
            f"data folder {str(root)!r} has class folders the training split lacks: {', '.join(unknown[:10])}. "
            "The val split's classes must be a subset of the train split's (same folder names)."
        )
    candidates, links, empty = [], [], []
    for name in found:
        files = _class_files(root, root / name, links)
        if not files:
            empty.append(name)
        candidates += [(path, path.relative_to(root).as_posix(), index[name]) for path in files]
    if links:
        warnings.warn(
            f"skipped {len(links)} folder link(s) in {root} that lead back into the data folder or loop "
            f"({', '.join(links[:3])}): their images would be counted again under another class",
            DataWarning, stacklevel=2,
        )  # fmt: skip
    if empty:
        warnings.warn(
            f"class folder(s) {', '.join(empty[:10])} in {root} hold no image file: "
            "they still take a label (the model gets an output for them that no sample teaches)",
            DataWarning, stacklevel=2,
        )  # fmt: skip
    with concurrent.futures.ThreadPoolExecutor(threads or os.cpu_count() or 1) as pool:
        checked = list(pool.map(lambda c: _read_and_check(c[0]), candidates))
    samples, digests, skipped = [], [], []
    for (_, rel, label), (digest, reason) in zip(candidates, checked):
        if reason:
            skipped.append((rel, reason))
        else:
            samples.append((rel, label))
            digests.append(digest)
    folder = ImageFolder(root, classes, tuple(samples), tuple(digests), tuple(skipped))
    if skipped:
        warnings.warn(folder.skipped_summary(), DataWarning, stacklevel=2)
    if not samples:
        raise DataError(
            f"data folder {str(root)!r} has {len(found)} class folders but no readable image "
            f"({len(skipped)} skipped, {len(candidates)} image files): expected {layout} with "
            f"{', '.join(IMAGE_SUFFIXES[:5])} ... files."
        )
    return folder


def find_splits(
    data_dir: str | os.PathLike, train_split: str = "train", val_split: str = "val"
) -> tuple[Path | None, Path | None]:
    """The train and val folders of a data dir (None where absent).

    Raises
    ------
    DataError
        ``data_dir`` does not exist.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(f"data dir {str(data_dir)!r} does not exist or is not a folder.")
    train, val = data_dir / train_split, data_dir / val_split
    return (train if train.is_dir() else None), (val if val.is_dir() else None)


def dataset_digest(data_dir: str | os.PathLike, train_split: str = "train", val_split: str = "val") -> str:
    """SHA-256 naming the data a model was trained and selected on.

    It covers, for the train and val splits (or ``data_dir`` itself when it has neither), every
    readable image's path, label and bytes; unreadable files are left out as training leaves them.

    Examples
    --------
    >>> dataset_digest("digits")                           # doctest: +SKIP
    '5b0c...'
    """
    train, val = find_splits(data_dir, train_split, val_split)
    if train is None and val is None:
        return scan_image_folder(data_dir).digest()
    return combined_digest(*scan_splits(train, val))


def scan_splits(train: Path | None, val: Path | None) -> tuple[ImageFolder | None, ImageFolder | None]:
    """Scan a train and a val split (either may be None); val is labelled with train's classes."""
    train_folder = scan_image_folder(train) if train else None
    val_folder = scan_image_folder(val, classes=train_folder.classes if train_folder else None) if val else None
    return train_folder, val_folder


def combined_digest(train: ImageFolder | None, val: ImageFolder | None) -> str:
    """The digest of a train and a val split together (see :func:`dataset_digest`)."""
    h = hashlib.sha256()
    for name, folder in (("train", train), ("val", val)):
        if folder is not None:
            h.update(f"{name}\t{folder.digest()}\n".encode())
    return h.hexdigest()
