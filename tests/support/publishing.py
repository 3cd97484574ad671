"""What the publishing tests share: real MindSpore GhostNet checkpoints, and the files of a hub folder."""

from __future__ import annotations

import gc
from pathlib import Path


def tree(root: Path) -> dict[str, bytes]:
    """Every file of a hub folder and its bytes (the publish lock aside): equal trees mean nothing changed."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".publish.lock"
    }


def save_checkpoints(folder: Path, seeds=(1, 2), *, width: float = 0.5, num_classes: int = 4) -> dict:
    """``{seed: folder/run<seed>.ckpt}``: a GhostNet of ``width`` saved per seed, so each file differs."""
    import mindspore as ms

    from ghosthub.architectures import create_model

    paths = {}
    for seed in seeds:
        ms.set_seed(seed)
        net = create_model("ghostnet", width, num_classes=num_classes)
        paths[seed] = folder / f"run{seed}.ckpt"
        ms.save_checkpoint(net, str(paths[seed]))
        del net
    gc.collect()
    return paths


def published_hub(root: Path, names=("alpha_050", "beta_050")) -> dict:
    """A hub folder ``root`` with one published GhostNet-0.5 (3 classes) per name, seeds 1, 2, ...

    Returns ``{"root", "x", "logits"}``: an input batch and each network's logits for it, so a
    test can check that what it loads back is the very network published.
    """
    import mindspore as ms
    import numpy as np

    from ghosthub.architectures import create_model
    from ghosthub.tasks.publish import publish

    x = np.ones((1, 3, 32, 32), np.float32)
    logits = {}
    for seed, name in enumerate(names, 1):
        ms.set_seed(seed)
        net = create_model("ghostnet", 0.5, num_classes=3)
        net.set_train(False)
        logits[name] = net(ms.Tensor(x)).asnumpy()
        ckpt = root.parent / f"{name}.ckpt"
        ms.save_checkpoint(net, str(ckpt))
        del net
        publish(ckpt, name=name, hub=root, width=0.5, dataset="toy")
    gc.collect()
    return {"root": root, "x": x, "logits": logits}
