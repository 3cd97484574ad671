"""Architecture plug-ins: an installed package adds architectures through the ``ghosthub.architectures`` entry points.

The package exists only as a module and a ``.dist-info`` folder with ``entry_points.txt`` on a
temporary ``sys.path`` entry, as pip leaves an installed package; the tests never import its
module: ghosthub finds it through the entry point, when it is asked for a name it does not know.
Each test runs in a fresh interpreter, so that the entry points are read as a user's process does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from tests.support.paths import REPO

PLUGIN = '''
"""A plug-in package's module: it registers one architecture when imported."""
from ghosthub import register_architecture


@register_architecture(
    "tinymlp",
    classifier="head",
    first_conv="stem",
    preprocessing={"input_size": 16, "mean": [0, 0, 0], "std": [1, 1, 1]},
    options=("hidden",),
)
def tinymlp(num_classes=1000, in_channels=3, hidden=8):
    from mindspore import nn, ops

    class TinyMLP(nn.Cell):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(in_channels, hidden, 3, has_bias=True)
            self.head = nn.Dense(hidden, num_classes)

        def construct(self, x):
            return self.head(ops.mean(self.stem(x), (2, 3)))

    return TinyMLP()
'''


def install(site, package: str, module: str, source: str | None) -> None:
    """What pip leaves: the module (unless ``source`` is None) and a dist-info with the entry point."""
    dist = site / f"{package}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 1.0\n", encoding="utf-8")
    (dist / "entry_points.txt").write_text(f"[ghosthub.architectures]\n{package} = {module}\n", encoding="utf-8")
    if source is not None:
        (site / f"{module}.py").write_text(source, encoding="utf-8")


def run(site, code: str, *args: str) -> subprocess.CompletedProcess:
    path = os.pathsep.join([str(REPO), str(site), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "GLOG_v": "3"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=site,
        timeout=300,
    )


def test_an_entry_point_package_is_found_only_when_its_name_is_asked_for(tmp_path):
    site = tmp_path / "site"
    install(site, "tinymlp_plugin", "tinymlp_plugin", PLUGIN)
    done = run(
        site,
        """
        import sys
        import numpy as np
        import ghosthub
        from ghosthub.cli import main

        main(["list"])
        assert "tinymlp_plugin" not in sys.modules, "listing imports no plug-in"
        assert "importlib.metadata" not in sys.modules, "nor reads the entry points"
        net = ghosthub.load("tinymlp", pretrained=False, num_classes=3, hidden=4)
        assert "tinymlp_plugin" in sys.modules
        out = net(ghosthub_input := __import__("mindspore").Tensor(np.ones((2, 3, 16, 16), np.float32)))
        print("shape", out.shape, net.default_cfg["architecture"], net.default_cfg["classifier"])
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "shape (2, 3) tinymlp head" in done.stdout


def test_a_plugins_weights_load_strictly_with_head_and_stem_adapted(tmp_path):
    site = tmp_path / "site"
    install(site, "tinymlp_plugin", "tinymlp_plugin", PLUGIN)
    done = run(
        site,
        """
        import sys
        import mindspore as ms
        import numpy as np
        import ghosthub

        ms.set_seed(0)
        net = ghosthub.load("tinymlp", pretrained=False, num_classes=3)
        ms.save_checkpoint(net, "tiny.ckpt")
        x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
        same = ghosthub.load("tiny.ckpt", architecture="tinymlp")
        assert np.array_equal(same(ms.Tensor(x)).asnumpy(), net(ms.Tensor(x)).asnumpy())
        five = ghosthub.load("tiny.ckpt", architecture="tinymlp", num_classes=5)
        assert five.head.weight.shape == (5, 8), "another class count: a fresh head"
        gray = ghosthub.load("tiny.ckpt", architecture="tinymlp", in_channels=1)
        summed = net.stem.weight.asnumpy().sum(axis=1, keepdims=True)
        assert np.array_equal(gray.stem.weight.asnumpy(), summed), "one channel: the stem summed"
        try:
            ghosthub.load("tiny.ckpt", architecture="tinymlp", hidden=6)
        except ghosthub.CheckpointMismatchError as exc:
            assert "stem.weight (8, 3, 3, 3) vs (6, 3, 3, 3)" in str(exc), exc
        else:
            raise AssertionError("a checkpoint of another shape must not load")
        print("ok")
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("ok")


def test_a_card_names_a_plugin_architecture(tmp_path):
    site = tmp_path / "site"
    install(site, "tinymlp_plugin", "tinymlp_plugin", PLUGIN)
    cards = tmp_path / "cards"
    cards.mkdir()
    seed = (REPO / "cards" / "ghostnet_050.md").read_text(encoding="utf-8")
    card = seed.replace("model-name: ghostnet_050", "model-name: my_classifier\n\narchitecture: tinymlp").replace(
        "https://github.com/mindspore-lab/mindcv/tree/v0.4.0/configs/ghostnet", "https://example.org/tinymlp"
    )
    (cards / "my_classifier.md").write_text(card, encoding="utf-8")
    done = run(
        site,
        """
        import sys
        import ghosthub
        from ghosthub.architectures import availability, choose_architecture

        client = ghosthub.Client(cards=[sys.argv[1]])
        print(availability(client.entry("my_classifier")).reason)
        choice = choose_architecture(client.entry("my_classifier"))
        print(choice.architecture.name, choice.architecture.library, choice.field)
        net = client.load("my_classifier", pretrained=False, num_classes=2)
        print(net.default_cfg["input_size"], net.num_classes)
        """,
        str(cards),
    )
    assert done.returncode == 0, done.stderr
    # Listing cannot tell without importing plug-ins; loading finds it through the entry point.
    assert done.stdout.splitlines() == ["unknown architecture", "tinymlp tinymlp_plugin architecture", "16 2"]


def test_a_broken_plugin_breaks_only_its_own_names_and_is_named(tmp_path):
    site = tmp_path / "site"
    install(site, "tinymlp_plugin", "tinymlp_plugin", PLUGIN)
    install(site, "broken_plugin", "broken_plugin_mod", "raise ImportError('needs a library that is not here')\n")
    done = run(
        site,
        """
        import ghosthub
        from ghosthub.architectures import create_model

        net = ghosthub.load("tinymlp", pretrained=False, num_classes=2)
        try:
            create_model("tinymlq")
        except ghosthub.UnsupportedBackboneError as exc:
            print(exc)
        """,
    )
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert "Unsupported architecture 'tinymlq'" in message and "Did you mean tinymlp?" in message
    assert "tinymlp_plugin: tinymlp" in message, "what is registered, by the package that provides it"
    assert "broken_plugin = broken_plugin_mod failed to load: ImportError: needs a library that is not here" in message
