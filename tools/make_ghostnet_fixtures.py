"""Generate the GhostNet-family test fixtures from the real source networks (run by hand, rarely).

Each fixture is one compressed ``.npz`` in ``tests/support/ghostnet_family/``:

* ``param:<name>``: every entry of the source's checkpoint under the source's own names (float
  tensors stored as float16, see below; integer counters as they are),
* ``input``: two images (1, 3, 224, 224) stacked: N(0, 1) noise and a smooth pattern,
* ``logits``: the source network's float32 output for ``input`` in eval mode,
* ``meta``: JSON (source, version, layout, family, width, num_classes, how it was made).

Weights are random but not default-initialised. Every BatchNorm gets random gamma, beta, running
mean and running variance, and biases are random, so that a mapping that confuses two BN leaves
(or two layers) changes the logits far beyond the test tolerance. Conv and linear weights have
variance 1 / fan-in but take five values, {-2, -1, 0, 1, 2} times a per-tensor scale: random
enough to tell any two tensors apart, and compressible, which keeps even the 1x model-zoo
fixtures (the only width the model zoo's code can build) at a few MB. The classifier is scaled
by a power of two so logits are O(1..10). Every float value is rounded to float16 with a 4-bit
mantissa *before* the source network runs, so storing float16 is exact and the logits belong to
exactly the stored weights.

How to rerun (from the repository root)::

    # timm: GhostNet v1 0.5x, GhostNetV2 0.5x, GhostNetV3 0.5x training form (10 classes)
    python3.11 -m venv /work/venv-torch
    /work/venv-torch/bin/pip install torch==2.13.0 'numpy<2' pyyaml huggingface_hub safetensors pillow
    /work/venv-torch/bin/pip install --no-deps timm            # timm 1.0.31 was used
    /work/venv-torch/bin/python tools/make_ghostnet_fixtures.py timm

    # MindSpore model zoo: ghostnet_1x, ghostnetv2_1x and GhostNet-600M at 1.0 (10 classes each)
    # from a checkout of https://github.com/mindspore-ai/models (outside this repository)
    GLOG_v=3 python tools/make_ghostnet_fixtures.py modelzoo --zoo /tmp/mindspore-models

timm's GhostNet needs no torchvision at run time, but ``import timm`` imports it; when torchvision
is missing (the CPU torch wheel has no matching one) this script puts an inert stand-in module in
its place. The model zoo's ghostnetv2.py calls the MindSpore 1.x ``ops.interpolate(x, sizes=...,
mode="bilinear")``, which MindSpore 2.x no longer accepts; the script hands that module a shim
that makes the same call with the 1.x semantics (aligned corners). Nothing else of the sources is
changed, and none of their code is copied into this repository.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import types

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support", "ghostnet_family")
SEED = 20261130
MANTISSA_BITS = 4  # kept of float16's 10


def _round(a: np.ndarray) -> np.ndarray:
    """Round to float16 with MANTISSA_BITS mantissa bits (exact in float16 and float32)."""
    h = np.asarray(a, np.float32).astype(np.float16).view(np.uint16)
    drop = 10 - MANTISSA_BITS
    # Round half up on the dropped bits, then clear them.
    h = ((h.astype(np.uint32) + (1 << (drop - 1))) & ~np.uint32((1 << drop) - 1)).astype(np.uint16)
    return h.view(np.float16).astype(np.float32)


def _random(name: str, shape: tuple, bn_leaf: str | None, rng: np.random.Generator) -> np.ndarray:
    """A random value for one parameter, by role: BN leaf, conv/linear weight or bias."""
    if bn_leaf == "gamma":
        return rng.uniform(0.5, 1.5, shape)
    if bn_leaf == "beta":
        return rng.normal(0.0, 0.2, shape)
    if bn_leaf == "mean":
        return rng.normal(0.0, 0.3, shape)
    if bn_leaf == "var":
        return rng.uniform(0.5, 2.0, shape)
    if len(shape) >= 2:  # conv (O, I/g, kh, kw) or linear (O, I)
        # Five levels {-2, -1, 0, 1, 2} times one scale, of variance 1 / fan-in: little entropy,
        # so zlib stores the 1x fixtures in a few MB (see the module docstring). Not He's 2 / fan-in:
        # with linear convs and residual sums, activations would grow ~4x per block.
        fan_in = int(np.prod(shape[1:]))
        # GhostNetV3 sums about four re-parameterisation branches where V2 has one conv.
        branches = 4 if "_rpr_" in name else 1
        scale = _round(np.sqrt(0.5 / fan_in / branches))
        return rng.integers(-2, 3, shape) * scale
    return rng.normal(0.0, 0.1, shape)  # conv / linear bias


def _inputs(rng: np.random.Generator, size: int = 224) -> np.ndarray:
    """Two images: white noise, and a 7x7 random pattern bilinearly upsampled (smooth)."""
    noise = rng.normal(0.0, 1.0, (3, size, size))
    coarse = rng.normal(0.0, 1.0, (3, 7, 7))
    grid = np.linspace(0, 6, size)
    rows = np.stack([[np.interp(grid, np.arange(7), coarse[c, i]) for i in range(7)] for c in range(3)])
    smooth = np.stack([[np.interp(grid, np.arange(7), rows[c][:, j]) for j in range(size)] for c in range(3)])
    smooth = smooth.transpose(0, 2, 1)
    return _round(np.stack([noise, smooth]))


def _save(name: str, params: dict, x: np.ndarray, logits: np.ndarray, meta: dict) -> None:
    os.makedirs(OUT, exist_ok=True)
    arrays = {}
    for k, v in params.items():
        v = np.asarray(v)
        arrays[f"param:{k}"] = v.astype(np.float16) if v.dtype.kind == "f" else v
    arrays["input"] = x.astype(np.float16)
    arrays["logits"] = np.asarray(logits, np.float32)
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    path = os.path.join(OUT, name + ".npz")
    np.savez_compressed(path, **arrays)
    print(
        f"{path}: {len(params)} entries, {os.path.getsize(path) / 1e6:.2f} MB, "
        f"logits max |y| {np.abs(logits).max():.3f}, argmax {logits.argmax(1).tolist()}"
    )


def _classifier_scale(logits: np.ndarray) -> float:
    """A power of two that brings max |logit| into [2, 8) (exact on float16 weights)."""
    m = float(np.abs(logits).max())
    print(f"  logits before scaling the classifier: max |y| {m:.3g}")
    return 2.0 ** (np.floor(np.log2(4.0 / m)) + 1) if m > 0 else 1.0


# ------------------------------------------------------------------------------------------------
# timm (PyTorch)


def _stub_torchvision() -> None:
    """Let ``import timm`` succeed without torchvision (GhostNet never calls it)."""
    try:
        import torchvision  # noqa: F401

        return
    except Exception:  # not installed, or a build that does not match torch
        pass
    import importlib.abc
    import importlib.machinery

    import torch

    class _Inert(type):
        def __getattr__(cls, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return _Inert(attr, (torch.nn.Module,), {})

    def module_getattr(attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _Inert(attr, (torch.nn.Module,), {})

    class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
        def find_spec(self, name, path, target=None):
            if name == "torchvision" or name.startswith("torchvision."):
                return importlib.machinery.ModuleSpec(name, self, is_package=True)
            return None

        def create_module(self, spec):
            module = types.ModuleType(spec.name)
            module.__path__ = []
            module.__getattr__ = module_getattr
            return module

        def exec_module(self, module):
            pass

    sys.modules.pop("torchvision", None)
    sys.meta_path.insert(0, _Finder())


def _timm_fixture(name: str, model, meta: dict, rng: np.random.Generator) -> None:
    import torch

    model.eval()
    state = model.state_dict()
    bn = {k.rsplit(".", 1)[0] for k in state if k.endswith(".running_mean")}
    roles = {"weight": "gamma", "bias": "beta", "running_mean": "mean", "running_var": "var"}
    params = {}
    for k, v in state.items():
        prefix, leaf = k.rsplit(".", 1)
        if leaf == "num_batches_tracked":
            params[k] = np.array(rng.integers(1, 10_000), dtype=np.int64)
            continue
        role = roles.get(leaf) if prefix in bn else None
        params[k] = _round(_random(k, tuple(v.shape), role, rng))
    x = _inputs(rng)

    def run() -> np.ndarray:
        model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in params.items()}, strict=True)
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    scale = _classifier_scale(run())
    for k in ("classifier.weight", "classifier.bias"):
        params[k] = _round(params[k] * np.float32(scale))  # stays float16-exact (no lost subnormal bits)
    logits = run()
    import timm

    meta.update(source=f"timm {timm.__version__} (torch {torch.__version__})", seed=SEED)
    _save(name, params, x, logits, meta)


def make_timm() -> None:
    """timm GhostNet v1, V2 and V3 (training form), width 0.5, 10 classes."""
    _stub_torchvision()
    import timm
    import torch
    from timm.models.ghostnet import _create_ghostnet

    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    common = dict(family=None, width=0.5, num_classes=10, in_channels=3)
    _timm_fixture(
        "timm_ghostnet_050",
        timm.create_model("ghostnet_050", num_classes=10),
        dict(common, family="ghostnet", layout="timm", model="timm ghostnet_050"),
        rng,
    )
    # timm registers V2 at 1.0/1.3/1.6 only; its builder takes any width.
    _timm_fixture(
        "timm_ghostnetv2_050",
        _create_ghostnet("ghostnetv2_050", width=0.5, version="v2", num_classes=10),
        dict(
            common,
            family="ghostnetv2",
            layout="timm",
            model="timm _create_ghostnet('ghostnetv2_050', width=0.5, version='v2')",
        ),
        rng,
    )
    _timm_fixture(
        "timm_ghostnetv3_050",
        timm.create_model("ghostnetv3_050", num_classes=10),
        dict(common, family="ghostnetv2", layout="timm-v3", model="timm ghostnetv3_050 (training form)"),
        rng,
    )


# ------------------------------------------------------------------------------------------------
# MindSpore model zoo


def _load_module(path: str, name: str, patch_interpolate: bool = False):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if patch_interpolate:
        import mindspore.ops as ms_ops

        def interpolate(x, sizes=None, mode="bilinear", **kwargs):
            # MindSpore 1.x: ops.interpolate(x, sizes=..., mode="bilinear") with
            # coordinate_transformation_mode="align_corners" by default.
            return ms_ops.interpolate(x, size=tuple(sizes), mode=mode, align_corners=True)

        shim = types.SimpleNamespace(**{k: getattr(ms_ops, k) for k in dir(ms_ops) if not k.startswith("__")})
        shim.interpolate = interpolate
        module.ops = shim
    return module


def _zoo_fixture(name: str, net, meta: dict, rng: np.random.Generator, optimizer_state: bool) -> None:
    import mindspore as ms
    from mindspore import nn

    net.set_train(False)
    params = {}
    roles = {"gamma": "gamma", "beta": "beta", "moving_mean": "mean", "moving_variance": "var"}
    for k, p in net.parameters_dict().items():
        leaf = k.rsplit(".", 1)[1]
        params[k] = _round(_random(k, tuple(p.shape), roles.get(leaf), rng))
    x = _inputs(rng)

    def run() -> np.ndarray:
        ms.load_param_into_net(
            net, {k: ms.Parameter(ms.Tensor(v), name=k) for k, v in params.items()}, strict_load=True
        )
        return net(ms.Tensor(x.astype(np.float32))).asnumpy()

    scale = _classifier_scale(run())
    for k in ("classifier.weight", "classifier.bias"):
        params[k] = _round(params[k] * np.float32(scale))  # stays float16-exact (no lost subnormal bits)
    logits = run()
    if optimizer_state:
        # What the model zoo's train.py saves beside the weights: the Momentum optimizer's
        # entries, named by MindSpore itself. Its per-parameter moments are kept for the first
        # few parameters only (they would double the file).
        opt = nn.Momentum(net.trainable_params(), learning_rate=0.1, momentum=0.9)
        kept = 0
        for k, p in opt.parameters_and_names():
            if k in params:
                continue
            if k.startswith("moments."):
                if kept >= 4:
                    continue
                kept += 1
            params[k] = _round(p.asnumpy()) if p.asnumpy().dtype.kind == "f" else p.asnumpy()
    meta.update(source=f"MindSpore {ms.__version__}, mindspore-ai/models research/cv", seed=SEED)
    _save(name, params, x, logits, meta)


def make_modelzoo(zoo: str, only: str | None = None) -> None:
    """Model zoo ghostnet_1x, ghostnetv2_1x (bilinear gate) and GhostNet-600M at width 1.0, 10 classes each."""
    import mindspore as ms

    ms.set_seed(SEED)
    src = os.path.join(zoo, "research/cv")
    if only in (None, "modelzoo_ghostnet_1x", "modelzoo_ghostnetv2_1x"):
        rng = np.random.default_rng(SEED + 1)
        v1 = _load_module(os.path.join(src, "ghostnet/src/ghostnet.py"), "mz_ghostnet")
        if only in (None, "modelzoo_ghostnet_1x"):
            _zoo_fixture(
                "modelzoo_ghostnet_1x",
                v1.ghostnet("1x", num_classes=10),
                dict(
                    family="ghostnet",
                    width=1.0,
                    num_classes=10,
                    in_channels=3,
                    layout="modelzoo",
                    model="model zoo ghostnet('1x', num_classes=10)",
                ),
                rng,
                optimizer_state=True,
            )
        # Only 1x: with another multiplier the zoo's GhostNetV2 feeds its first bottleneck 16
        # channels whatever the stem's width, and fails.
        if only in (None, "modelzoo_ghostnetv2_1x"):
            v2 = _load_module(
                os.path.join(src, "ghostnetv2/src/ghostnetv2.py"), "mz_ghostnetv2", patch_interpolate=True
            )
            _zoo_fixture(
                "modelzoo_ghostnetv2_1x",
                v2.ghostnetv2("1x", num_classes=10),
                dict(
                    family="ghostnetv2",
                    width=1.0,
                    num_classes=10,
                    in_channels=3,
                    layout="modelzoo-v2",
                    model="model zoo ghostnetv2('1x', num_classes=10)",
                ),
                rng,
                optimizer_state=False,
            )
    if only in (None, "modelzoo_ghostnet600_100"):
        # The published GhostNet-600M is width 1.75; 1.0 runs the same code with a smaller file.
        m600 = _load_module(os.path.join(src, "ghostnet/src/ghostnet600.py"), "mz_ghostnet600")
        _zoo_fixture(
            "modelzoo_ghostnet600_100",
            m600.ghostnet("600M", num_classes=10, multiplier=1.0),
            dict(
                family="ghostnet600",
                width=1.0,
                num_classes=10,
                in_channels=3,
                layout="modelzoo-600m",
                model="model zoo ghostnet600.ghostnet('600M', num_classes=10, multiplier=1.0)",
            ),
            np.random.default_rng(SEED + 2),
            optimizer_state=True,
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", choices=("timm", "modelzoo"))
    parser.add_argument("--zoo", help="checkout of github.com/mindspore-ai/models (for 'modelzoo')")
    parser.add_argument("--only", help="make just this model-zoo fixture (e.g. modelzoo_ghostnet600_100)")
    args = parser.parse_args(argv)
    if args.source == "timm":
        make_timm()
    else:
        if not args.zoo:
            parser.error("modelzoo needs --zoo PATH")
        make_modelzoo(args.zoo, args.only)


if __name__ == "__main__":
    main()
