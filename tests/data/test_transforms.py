"""data/transforms.py: eval transform geometry and values, input kinds; data/classes.py: ImageNet class names."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ghosthub.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from ghosthub.data.classes import imagenet_classes
from ghosthub.data.transforms import ImageError, make_transform
from tests.support.paths import REPO


def _gradient(h, w):
    """An RGB image whose pixels differ everywhere, so any geometry error shows."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x % 256, y % 256, (x * 7 + y * 3) % 256], axis=-1).astype(np.uint8)


def test_shape_dtype_and_batch():
    image = _gradient(300, 400)
    out = make_transform()(image)
    assert out.shape == (3, 224, 224) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert make_transform(batch=True)(image).shape == (1, 3, 224, 224)
    assert make_transform((3, 96, 128))(image).shape == (3, 96, 128)


def test_known_pixel_value_is_normalised_on_the_255_scale():
    colour = (200, 100, 50)
    out = make_transform()(np.full((300, 400, 3), colour, np.uint8))
    expected = [(c - m) / s for c, m, s in zip(colour, IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)]
    assert np.allclose(out[:, 123, 45], expected, atol=1e-5)
    assert np.allclose(out[0, 0, 0], (200 - 123.675) / 58.395, atol=1e-5)


def test_crop_geometry_without_resize():
    # The shorter side is already 256 = floor(224 / 0.875): a pure centre crop, offsets floored.
    image = _gradient(256, 513)
    out = make_transform(mean=(0, 0, 0), std=(1, 1, 1))(image)
    top, left = (256 - 224) // 2, (513 - 224) // 2  # 16, 144
    assert np.array_equal(out.transpose(1, 2, 0), image[top : top + 224, left : left + 224].astype(np.float32))


@pytest.mark.parametrize("h, w, resized", [(300, 400, (256, 341)), (400, 300, (341, 256)), (100, 150, (256, 384))])
def test_resize_shorter_side_then_centre_crop(h, w, resized):
    image = _gradient(h, w)
    out = make_transform(mean=(0, 0, 0), std=(1, 1, 1))(image)
    # Same sizes and offsets as MindCV's eval pipeline (vision.Resize(256) + CenterCrop(224)).
    new_h, new_w = resized
    top, left = (new_h - 224) // 2, (new_w - 224) // 2
    ref = Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR)
    ref = np.asarray(ref.crop((left, top, left + 224, top + 224)), np.float32)
    assert np.array_equal(out.transpose(1, 2, 0), ref)


def test_accepts_pil_array_and_path(tmp_path):
    image = _gradient(120, 90)
    path = tmp_path / "x.png"
    Image.fromarray(image).save(path)
    t = make_transform(64)
    from_array = t(image)
    assert np.array_equal(t(Image.fromarray(image)), from_array)
    assert np.array_equal(t(path), from_array)
    assert np.array_equal(t(str(path)), from_array)
    rgba = Image.fromarray(np.dstack([image, np.full(image.shape[:2], 255, np.uint8)]))
    assert np.array_equal(t(rgba), from_array)


def test_grayscale_becomes_three_channels():
    gray = _gradient(80, 80)[:, :, 0]
    out = make_transform(64)(gray)
    assert out.shape == (3, 64, 64)
    assert np.allclose(
        out[0] * IMAGENET_DEFAULT_STD[0] + IMAGENET_DEFAULT_MEAN[0],
        out[1] * IMAGENET_DEFAULT_STD[1] + IMAGENET_DEFAULT_MEAN[1],
        atol=1e-3,
    )


def test_bad_inputs_raise_image_error(tmp_path):
    t = make_transform(64)
    with pytest.raises(ImageError, match="dtype float32"):
        t(np.zeros((80, 80, 3), np.float32))
    with pytest.raises(ImageError, match="shape"):
        t(np.zeros((3, 80, 80), np.uint8))
    with pytest.raises(ImageError, match="does not exist"):
        t(tmp_path / "missing.jpg")
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageError) as info:
        t(bad)
    assert str(bad) in str(info.value)
    with pytest.raises(ImageError, match="got int"):
        t(3)


def test_bad_arguments():
    with pytest.raises(ValueError, match="crop_pct"):
        make_transform(crop_pct=1.5)
    with pytest.raises(ValueError, match="interpolation"):
        make_transform(interpolation="cubic-ish")


def test_imagenet_classes():
    names = imagenet_classes()
    assert len(names) == 1000
    assert names[:3] == ["tench", "goldfish", "great white shark"]
    assert names[207] == "golden retriever" and names[999] == "toilet tissue"
    names.append("x")  # a copy: the cached list stays intact
    assert len(imagenet_classes()) == 1000


def test_no_mindspore_import():
    code = "import sys, ghosthub.data.transforms; assert 'mindspore' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
