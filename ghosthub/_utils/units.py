"""Sizes in binary units, the same in listings and in progress bars."""

from __future__ import annotations

import sys

__all__ = ["byte_bar", "size"]

# tqdm's own byte counts say "MB" for 2**20 bytes and give rates in powers of 1000: these say MiB throughout.
_BYTE_BAR = "{desc}: {percentage:3.0f}%|{bar}| {n_bin}/{total_bin} [{elapsed}<{remaining}, {rate_bin}]"


def size(n: float) -> str:
    """A byte count in binary units (B, KiB, MiB, GiB).

    Examples
    --------
    >>> size(512), size(50_000), size(5 << 30)
    ('512 B', '48.8 KiB', '5.0 GiB')
    """
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def byte_bar(total: int | None, initial: int = 0, desc: str = "", **kw):
    """A tqdm bar over bytes that shows sizes and rates in binary units (on stderr)."""
    from tqdm import tqdm

    class ByteBar(tqdm):
        @property
        def format_dict(self):
            d = super().format_dict
            rate = d.get("rate") or (d["n"] - d.get("initial", 0)) / d["elapsed"] if d.get("elapsed") else None
            d.update(
                n_bin=size(d["n"]),
                total_bin=size(d["total"]) if d.get("total") else "?",
                rate_bin=f"{size(rate)}/s" if rate else "?",
            )
            return d

    kw.setdefault("file", sys.stderr)
    return ByteBar(total=total, initial=initial, desc=desc, unit="B", bar_format=_BYTE_BAR, **kw)
