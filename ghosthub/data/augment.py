"""MindCV's auto-augment policy strings: ``randaug-m9-n2-mstd0.5``, ``autoaug``, ``trivialaugwide``."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["parse_auto_augment"]

_AUTO_AUGMENT = re.compile(r"(?P<policy>randaug|autoaug|trivialaugwide)(?P<opts>(?:-[a-z]+[0-9.]+)*)")


def parse_auto_augment(policy: str) -> dict[str, Any]:
    """Read a MindCV auto-augment string into its parts.

    Parameters
    ----------
    policy : str
        ``randaug-m9-mstd0.5`` (RandAugment, magnitude 9 of 10, 2 ops unless ``-n``),
        ``autoaug`` (AutoAugment, ImageNet policy) or ``trivialaugwide``.

    Returns
    -------
    dict
        ``{"policy": "randaug", "m": 9, "n": 2, "mstd": 0.5}`` (``m``, ``n``, ``mstd`` only for randaug).

    Raises
    ------
    ValueError
        The string is not one of these forms.

    Examples
    --------
    >>> parse_auto_augment("randaug-m9-mstd0.5")
    {'policy': 'randaug', 'm': 9, 'n': 2, 'mstd': 0.5}
    """
    match = _AUTO_AUGMENT.fullmatch(policy) if isinstance(policy, str) else None
    if not match:
        raise ValueError(f"unknown auto_augment policy {policy!r}")
    out: dict[str, Any] = {"policy": match.group("policy")}
    opts = dict(re.findall(r"-([a-z]+)([0-9.]+)", match.group("opts")))
    if out["policy"] != "randaug":
        if opts:
            raise ValueError(f"{out['policy']} takes no options, found {policy!r}")
        return out
    unknown = set(opts) - {"m", "n", "mstd"}
    if unknown:
        raise ValueError(f"unknown randaug options {sorted(unknown)} in {policy!r}")
    try:
        out.update(m=int(opts.get("m", 9)), n=int(opts.get("n", 2)), mstd=float(opts.get("mstd", 0)))
    except ValueError:
        raise ValueError(f"bad randaug numbers in {policy!r}") from None
    if not 0 <= out["m"] <= 10 or out["n"] < 1:
        raise ValueError(f"randaug needs 0 <= m <= 10 and n >= 1, found {policy!r}")
    return out
