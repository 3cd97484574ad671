"""Folders ghosthub walks (card folders, training data) cannot loop it, mislabel data or exhaust memory.

Folder links made by the tests, sparse files made by the tests, and
the memory limit of a scan checked with ``resource``.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import textwrap
import warnings

import pytest

from ghosthub.data.imagefolder import dataset_digest, scan_image_folder
from ghosthub.errors import CardWarning, DataWarning
from ghosthub.modelcard import check_card_files
from ghosthub.registry import Registry
from tests.support.images import make_image_folder
from tests.support.paths import REPO

CARDS = REPO / "cards"


# --------------------------------------------------------------------------- card folder loops


def test_a_card_folder_link_loop_is_skipped_with_one_warning(tmp_path):
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "ghostnet_050.md").write_bytes((CARDS / "ghostnet_050.md").read_bytes())
    (cards / "sub").mkdir()
    os.symlink(".", cards / "loop")
    os.symlink("..", cards / "sub" / "up")
    os.symlink("loop2", cards / "loop2")  # a link to itself: ELOOP on stat
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = Registry([cards]).list()
    assert names == ["ghostnet_050"]
    loops = [w for w in caught if issubclass(w.category, CardWarning) and "skipped" in str(w.message)]
    assert len(loops) == 1, [str(w.message) for w in caught]
    assert "loop" in str(loops[0].message)
    with pytest.warns(CardWarning, match="skipped"):
        assert check_card_files(cards) == []


def test_a_linked_card_folder_is_still_read(tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "ghostnet_050.md").write_bytes((CARDS / "ghostnet_050.md").read_bytes())
    cards = tmp_path / "cards"
    cards.mkdir()
    os.symlink(real, cards / "linked")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CardWarning)
        assert Registry([cards]).list() == ["ghostnet_050"]


# --------------------------------------------------------------------------- training data


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "data", classes=("a", "b"), train=4, val=1)


def test_a_link_back_into_the_data_folder_is_not_followed(folder):
    train = folder / "train"
    plain = scan_image_folder(train)
    os.symlink("..", train / "a" / "loop")
    os.symlink("../b", train / "a" / "also_b")
    with pytest.warns(DataWarning, match="folder link") as caught:
        scanned = scan_image_folder(train)
    assert "a/loop" in str(caught[0].message)
    assert scanned.samples == plain.samples, "class-b images are not labelled 'a', nothing is counted twice"
    assert scanned.digest() == plain.digest()


def test_a_link_out_of_the_data_folder_is_followed_once(folder, tmp_path):
    extra = tmp_path / "extra"
    make_image_folder(extra, classes=("x",), train=2, val=0)
    train = folder / "train"
    os.symlink(extra / "train" / "x", train / "a" / "more")
    os.symlink("..", extra / "train" / "x" / "back")  # and from there a loop onto itself
    with pytest.warns(DataWarning, match="folder link"):
        scanned = scan_image_folder(train)
    assert sorted(p for p, label in scanned.samples if p.startswith("a/more/")) == ["a/more/000.png", "a/more/001.png"]
    assert len(scanned) == 8 + 2


def test_an_empty_class_folder_is_warned_about(folder):
    (folder / "train" / "c").mkdir()
    with pytest.warns(DataWarning, match="c in .* hold no image"):
        scanned = scan_image_folder(folder / "train")
    assert scanned.classes == ("a", "b", "c")


def test_the_digest_of_ordinary_data_is_unchanged(folder):
    """The digest covers path, label and bytes as before: a published dataset digest still matches."""
    manifest = "".join(
        f"{path.relative_to(folder / split).as_posix()}\t{label}\t{hashlib.sha256(path.read_bytes()).hexdigest()}\n"
        for split in ("train",)
        for label, name in enumerate(("a", "b"))
        for path in sorted((folder / split / name).iterdir())
    )
    assert scan_image_folder(folder / "train").digest() == hashlib.sha256(manifest.encode()).hexdigest()
    assert dataset_digest(folder) == dataset_digest(folder)


def test_huge_junk_images_are_refused_on_their_header_within_a_memory_limit(folder):
    train = folder / "train"
    for name in ("a/junk.png", "b/junk.png"):
        with open(train / name, "wb") as f:  # sparse: 2.5 GB that take no disk
            f.truncate(2_500_000_000)
    code = textwrap.dedent(f"""
        import resource, warnings
        resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
        from ghosthub.data.imagefolder import scan_image_folder
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            folder = scan_image_folder({str(train)!r}, threads=2)
        print(len(folder), len(folder.skipped), sorted(p for p, _ in folder.skipped))
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (pytest with MindSpore).
        print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    counts, peak_kib = out.stdout.strip().splitlines()
    assert counts == "8 2 ['a/junk.png', 'b/junk.png']"
    assert int(peak_kib) < 512 << 10, f"peak RSS {int(peak_kib) >> 10} MiB"


# --------------------------------------------------------------------------- non-regular files named like images


def _not_files(folder):
    """A FIFO, a socket and a link to a character device, each named like an image, in ``folder``."""
    import socket

    folder.mkdir(parents=True, exist_ok=True)
    os.mkfifo(folder / "fifo.png")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / "sock.jpg"))
    os.symlink("/dev/zero", folder / "zero.jpeg")
    return sock, {"fifo.png": "a FIFO (named pipe)", "sock.jpg": "a socket", "zero.jpeg": "a character device"}


@pytest.mark.timeout(30)  # the attack is a hang: fail instead of stalling
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and unix sockets")
def test_a_fifo_socket_or_device_named_like_an_image_is_refused_by_name_not_opened(tmp_path):
    import ghosthub
    from ghosthub.errors import ImageError
    from ghosthub.tasks.inference import image_files

    sock, kinds = _not_files(tmp_path / "photos")
    try:
        transform = ghosthub.transforms("ghostnet_050")  # what predict and embed run on every image
        for name, kind in kinds.items():
            with pytest.raises(ImageError, match=re.escape(f"{name} is {kind}, not a regular file")):
                transform(tmp_path / "photos" / name)
        with pytest.raises(ImageError, match="fifo.png is a FIFO"):
            [transform(p) for p in image_files([tmp_path / "photos"])]  # a folder given to predict
    finally:
        sock.close()


@pytest.mark.timeout(30)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs and unix sockets")
def test_a_training_folder_skips_non_regular_files_naming_them(tmp_path):
    root = make_image_folder(tmp_path / "data")
    sock, kinds = _not_files(root / "train" / sorted(os.listdir(root / "train"))[0])
    try:
        with pytest.warns(DataWarning) as caught:
            folder = scan_image_folder(root / "train")
    finally:
        sock.close()
    assert not any(os.path.basename(p) in kinds for p, _ in folder.samples)
    summary = folder.skipped_summary()
    for name, kind in kinds.items():
        assert f"{name}: {kind}, not a regular file" in summary
    assert caught
