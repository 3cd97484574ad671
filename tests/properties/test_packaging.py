"""The built wheel carries the bundled cards, and an installed ghosthub lists them from anywhere."""

import subprocess
import sys
import zipfile

import pytest

from tests.support.paths import REPO


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    pytest.importorskip("hatchling", reason="the wheel is built with hatchling (in the test extra)")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("ghosthub-*.whl")
    return path


def test_wheel_contains_cards_and_entry_point(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(n for n in names if n.endswith("entry_points.txt"))
        assert "ghosthub = ghosthub.cli:run" in zf.read(entry_points).decode()
    for card in sorted((REPO / "cards").glob("*.md")):
        assert f"ghosthub/cards/{card.name}" in names
    recipes = sorted((REPO / "recipes").glob("*.yaml"))
    assert recipes and all(f"ghosthub/recipes/{r.name}" in names for r in recipes)
    assert "ghosthub/resources/imagenet_classes.txt" in names
    assert not any(n.startswith("tests/") for n in names)


def test_installed_wheel_lists_bundled_cards(wheel, tmp_path):
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import ghosthub;"
        "assert ghosthub.__file__.startswith(sys.argv[1]), ghosthub.__file__;"
        "from ghosthub.cli import main; sys.exit(main(['list']))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(site)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()[1:]]
    assert len(names) == 53 and names == sorted((p.stem for p in (REPO / "cards").glob("*.md")), key=str.lower)
    assert {"ghostnet_050", "ghostnet_050.85b91860", "resnet50", "xcit_tiny_12_p16_224"} <= set(names)
