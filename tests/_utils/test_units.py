"""Sizes in binary units: the same in progress bars and in listings."""

from __future__ import annotations


def test_progress_bars_and_listings_use_binary_units():
    import io
    import time

    from ghosthub._utils.units import byte_bar
    from ghosthub.cli._common import size

    out = io.StringIO()
    bar = byte_bar(5 << 20, 0, desc="w.ckpt", file=out, mininterval=0)
    bar.update(3 << 20)
    time.sleep(0.05)
    bar.update(1 << 20)
    bar.refresh()
    bar.close()
    text = out.getvalue()
    assert "4.0 MiB/5.0 MiB" in text and "MiB/s" in text
    assert "MB" not in text and "kB" not in text, "no decimal unit next to binary ones"
    assert size(5 << 20) == "5.0 MiB"
