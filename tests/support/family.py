"""The GhostNet-family fixtures: source-named random weights, an input and the source's logits per network."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "ghostnet_family"
FIXTURES = sorted(p.stem for p in DATA.glob("*.npz"))
RTOL = 1e-5  # max |logit difference| <= RTOL * max |logit|


def load_fixture(name: str) -> tuple[dict, np.ndarray, np.ndarray, dict]:
    """(source-named params as float32, input, source logits, meta) of one fixture."""
    with np.load(DATA / f"{name}.npz") as data:
        params = {
            k[len("param:") :]: (data[k].astype(np.float32) if data[k].dtype.kind == "f" else data[k])
            for k in data.files
            if k.startswith("param:")
        }
        return params, data["input"].astype(np.float32), data["logits"], json.loads(str(data["meta"]))


def close(y: np.ndarray, ref: np.ndarray) -> bool:
    """The acceptance rule: max |y - ref| <= RTOL * max |ref| and the same argmax per image."""
    diff = float(np.max(np.abs(y - ref)))
    return diff <= RTOL * float(np.max(np.abs(ref))) and (y.argmax(1) == ref.argmax(1)).all()
