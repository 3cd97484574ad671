"""ImageFolder scanning, digests, epoch order and pipelines; the digits writer."""

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from ghosthub.data.digits import write_digits
from ghosthub.data.imagefolder import dataset_digest, scan_image_folder
from ghosthub.data.pipelines import _RandomErasing, epoch_order, eval_dataset, train_dataset
from ghosthub.errors import DataError, DataWarning
from ghosthub.preprocessing import Preprocessing
from ghosthub.training.recipe import Recipe
from tests.support.images import make_image_folder


@pytest.fixture
def folder(tmp_path):
    return make_image_folder(tmp_path / "data")


def test_scan_sorted_classes_and_labels(folder):
    scanned = scan_image_folder(folder / "train")
    assert scanned.classes == ("a", "b", "c") and len(scanned) == 18 and not scanned.skipped
    assert scanned.samples[:2] == (("a/000.png", 0), ("a/001.png", 0)) and scanned.samples[-1] == ("c/005.png", 2)
    assert all(len(h) == 64 for h in scanned.sha256)


def test_bad_images_are_skipped_with_a_count(folder):
    bad = folder / "train" / "b"
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "page.png").write_bytes(b"<html>not found</html>")
    png = io.BytesIO()
    Image.fromarray(np.full((40, 40, 3), 7, np.uint8)).save(png, "PNG")
    (bad / "cut.png").write_bytes(png.getvalue()[: len(png.getvalue()) // 2])
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(bad / "pic.webp", "WEBP")
    (bad / "notes.txt").write_text("not an image file name: ignored")
    with pytest.warns(DataWarning, match=r"skipped 4 of 22 image files") as warned:
        scanned = scan_image_folder(folder / "train")
    assert len(scanned) == 18
    reasons = dict(scanned.skipped)
    assert reasons["b/empty.jpg"] == "empty file"
    assert reasons["b/page.png"].startswith("not a readable image")
    assert reasons["b/cut.png"].startswith("not a readable image")
    assert "WEBP is not a format MindSpore decodes" in reasons["b/pic.webp"]
    assert "b/empty.jpg: empty file" in str(warned[0].message)


def test_folder_errors_name_the_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        scan_image_folder(tmp_path / "missing")
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"'.*flat' has no class folders: expected the ImageFolder layout"):
        scan_image_folder(tmp_path / "flat")
    (tmp_path / "junk" / "cls").mkdir(parents=True)
    (tmp_path / "junk" / "cls" / "x.jpg").write_bytes(b"junk")
    with pytest.warns(DataWarning), pytest.raises(DataError, match="no readable image"):
        scan_image_folder(tmp_path / "junk")


def test_val_classes_follow_train(folder):
    (folder / "val" / "zebra").mkdir()
    with pytest.raises(DataError, match="class folders the training split lacks: zebra"):
        scan_image_folder(folder / "val", classes=("a", "b", "c"))
    scanned = scan_image_folder(folder / "val", classes=("a", "b", "c", "zebra"))
    assert scanned.classes[-1] == "zebra" and len(scanned) == 6


def test_dataset_digest_covers_names_labels_and_bytes(folder, tmp_path):
    first = dataset_digest(folder)
    assert first == dataset_digest(folder) and len(first) == 64
    assert first == dataset_digest(make_image_folder(tmp_path / "copy"))  # same content elsewhere
    path = folder / "train" / "a" / "000.png"
    original = path.read_bytes()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path)
    assert dataset_digest(folder) != first
    path.write_bytes(original)
    assert dataset_digest(folder) == first
    path.rename(folder / "train" / "b" / "moved.png")  # another label
    assert dataset_digest(folder) != first


def test_epoch_order_shards_and_repeats():
    full = epoch_order(10, seed=3, epoch=1)
    assert sorted(full.tolist()) == list(range(10)) and full.tolist() == epoch_order(10, seed=3, epoch=1).tolist()
    assert full.tolist() != epoch_order(10, seed=3, epoch=2).tolist()
    shards = [epoch_order(10, seed=3, epoch=1, rank=r, world=3) for r in range(3)]
    assert [len(s) for s in shards] == [4, 4, 4]  # padded: every worker runs the same steps
    assert set(np.concatenate(shards).tolist()) == set(range(10))
    assert epoch_order(4, seed=0, epoch=0, shuffle=False, repeats=3).tolist() == [0, 0, 0, 1]
    assert len(epoch_order(1000, seed=0, epoch=0, rank=1, world=2, repeats=3)) == 1000 // 256 * 256 // 2


def tiny_recipe(**kw):
    return Recipe.from_dict(
        {
            "model": "ghostnet_010",
            "epoch_size": 1,
            "lr": 0.1,
            "batch_size": 4,
            "image_resize": 16,
            "re_prob": 0.5,
            "auto_augment": "randaug-m9-mstd0.5",
            **kw,
        }
    )


def digest_of(dataset):
    h = hashlib.sha256()
    shapes = []
    for images, labels in dataset.create_tuple_iterator(output_numpy=True, num_epochs=1):
        h.update(images.tobytes())
        h.update(labels.tobytes())
        shapes.append((images.shape, images.dtype, labels.dtype))
    return h.hexdigest(), shapes


def test_train_pipeline_is_deterministic_with_parallel_workers(folder):
    scanned = scan_image_folder(folder / "train")
    recipe = tiny_recipe()
    first, shapes = digest_of(train_dataset(scanned, recipe, epoch=0, workers=2))
    assert shapes == [((4, 3, 16, 16), np.float32, np.int32)] * 4  # 18 images, drop_remainder
    assert digest_of(train_dataset(scanned, recipe, epoch=0, workers=2))[0] == first
    assert digest_of(train_dataset(scanned, recipe, epoch=1, workers=2))[0] != first
    assert digest_of(train_dataset(scanned, recipe, epoch=0, rank=1, world=2, workers=2))[1] == shapes[:2]


def test_eval_pipeline_keeps_order_and_last_batch(folder):
    scanned = scan_image_folder(folder / "val")
    pre = Preprocessing(input_size=12, crop_pct=0.75, mean=(0, 0, 0), std=(1, 1, 1))
    batches = list(
        eval_dataset(scanned, pre, batch_size=4, workers=2).create_tuple_iterator(output_numpy=True, num_epochs=1)
    )
    assert [b[0].shape for b in batches] == [(4, 3, 12, 12), (2, 3, 12, 12)]
    assert np.concatenate([b[1] for b in batches]).tolist() == [0, 0, 1, 1, 2, 2]


def test_random_erasing_depends_only_on_the_key():
    erase = _RandomErasing(1.0, (0.1, 0.3), (0.5, 2.0), 0.0, 10)
    image = np.ones((3, 16, 16), np.float32)
    a = erase(image, np.array([1, 2, 3]))
    assert np.array_equal(a, erase(image, np.array([1, 2, 3])))
    assert (a == 0).any() and image.min() == 1  # a copy is erased, never the input
    assert not np.array_equal(a, erase(image, np.array([1, 2, 4])))


def test_write_digits_is_an_image_folder_with_stable_bytes(tmp_path):
    counts = write_digits(tmp_path / "d1")
    assert counts == {"train": 1438, "val": 359}
    train = scan_image_folder(tmp_path / "d1" / "train")
    assert train.classes == tuple(str(d) for d in range(10)) and len(train) == 1438
    with Image.open(tmp_path / "d1" / "train" / train.samples[0][0]) as img:
        assert (img.size, img.mode) == ((8, 8), "L")
    write_digits(tmp_path / "d2")
    assert dataset_digest(tmp_path / "d1") == dataset_digest(tmp_path / "d2")


def test_write_digits_without_scikit_learn_says_what_to_install(tmp_path, monkeypatch):
    import sys

    from ghosthub.errors import GhostHubError

    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)  # import fails as if it were not installed
    with pytest.raises(GhostHubError, match=r"pip install 'ghosthub\[demo\]'"):
        write_digits(tmp_path / "digits")
    assert not (tmp_path / "digits").exists()
