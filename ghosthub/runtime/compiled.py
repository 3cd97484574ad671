"""Compiled inference: a network whose forward runs as one MindSpore graph, with a disk compile cache.

Measured on a 2-core AMD EPYC (AVX-512), GhostNet-0.5 at 224 px, ISA pinned at AVX2, batch 1:
PyNative 76 ms per call; the same Cell with its ``construct`` wrapped by ``mindspore.jit`` 17 ms
(global graph mode 27 ms). The price is the first call: 2.5-3 s of compilation in a fresh process,
0.15-0.4 s with MindSpore's compile cache warm. Logits equal PyNative's (max abs diff 0 to 1e-7).

MindSpore's compile cache (``MS_COMPILER_CACHE_ENABLE`` / ``MS_COMPILER_CACHE_PATH``) is unsafe
as a shared folder, so this module keys a folder per graph (measured with MindSpore 2.10):

- it checks neither input shapes nor the network: a graph cached for batch 1 was loaded for
  batch 4 (wrong output shape) and a 10-class graph for a 7-class network;
- graphs are numbered by compile order in the process (``compile_cache_0.mindir``, ``_1`` ...),
  and the folder is read once, at the process's first compile;
- its dependency hash covers the entry script and its imports outside ``sys.path`` only, not an
  installed ghosthub, and not the weights (which it does not store: new weights are used);
- with no entry script file (``python -c``, some notebooks) compiling with the cache on raises
  FileNotFoundError ('/cwd/-c'), so the cache is used only when ``sys.argv[0]`` is a file.

Hence the folder is keyed on MindSpore's version, the network's class source, parameter names
and shapes, the input shape and the entry script, and the cache is used only for the first graph
compiled in the process and switched off after it; other batch sizes compile without it.
Partial batches are padded to the compiled batch size, so a folder of images runs one graph.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

__all__ = ["MODES", "compile_cache_dir", "compile_network", "resolve_mode"]

MODES = ("auto", "graph", "pynative")
_CACHE_ENV, _PATH_ENV = "MS_COMPILER_CACHE_ENABLE", "MS_COMPILER_CACHE_PATH"
_cache_used = False  # the process's one cached graph is taken (MindSpore reads the folder once)


def resolve_mode(mode: str = "auto", *, cache_dir: str | os.PathLike | None = None) -> str:
    """``"graph"`` or ``"pynative"`` for a requested ``mode``.

    ``auto`` is ``graph`` when a compile cache folder is available (``ghosthub.load`` always has
    its cache): compiled calls are 3-4.5x faster and, with the cache warm, the first call costs
    about what PyNative's does (0.15-0.4 s vs 0.3 s); a cold cache costs 2.5-3 s once per
    machine, network and batch shape. Without a cache folder ``auto`` stays ``pynative``.
    """
    if mode not in MODES:
        from ..errors import ModeError

        raise ModeError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode != "auto":
        return mode
    return "graph" if cache_dir is not None else "pynative"


def _source_digest(net) -> list:
    """SHA-256 of the source files of the network's own cell classes (MindSpore's excluded)."""
    files = set()
    for _, cell in net.cells_and_names():
        module = sys.modules.get(type(cell).__module__)
        path = getattr(module, "__file__", None)
        if path and not type(cell).__module__.startswith("mindspore"):
            files.add(path)
    out = []
    for path in sorted(files):
        with open(path, "rb") as f:
            out.append([os.path.basename(path), hashlib.sha256(f.read()).hexdigest()[:16]])
    return out


def compile_cache_dir(root: str | os.PathLike, net, input_shape, dtype: str = "Float32") -> Path:
    """The compile-cache folder for ``net`` on inputs of ``input_shape``: ``root/<key>``.

    ``root`` is ghosthub's cache folder for compiled graphs (e.g. ``<cache>/compile``).
    """
    import mindspore as ms
    from mindspore.graph import api

    key = {
        "mindspore": ms.__version__,
        "python": sys.version_info[:2],
        "class": type(net).__qualname__,
        "sources": _source_digest(net),
        "input": [list(map(int, input_shape)), str(dtype)],
        "params": [[n, list(p.shape), str(p.dtype)] for n, p in net.parameters_and_names()],
        "entry": str(api.entry_script_path),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return Path(root) / digest


def _cache_allowed() -> bool:
    """Our keyed folder only works for the process's first graph, and never against the user's settings."""
    import mindspore as ms
    from mindspore.graph import api

    return (
        not _cache_used
        and not api.ms_compile_cache
        and os.environ.get(_CACHE_ENV) is None
        and os.environ.get(_PATH_ENV) is None
        and ms.get_context("enable_compile_cache") is None
        and bool(api.entry_script_path)
        and os.path.isfile(api.entry_script_path)
    )


def compile_network(net, mode: str = "auto", *, cache_dir: str | os.PathLike | None = None, pad_batches: bool = True):
    """Make ``net``'s forward a compiled MindSpore graph (``mindspore.jit``), in place.

    Call it in ``ghosthub.load(..., mode=)`` on the loaded (and possibly BN-fused) inference
    network, with ``cache_dir=<ghosthub cache>/compile``. The network stays the same Cell
    (parameters, ``num_classes``, ``default_cfg``), in PyNative context; only ``construct`` is
    replaced, so ``net(x)`` runs the graph; in training mode it runs op by op as before.

    Parameters
    ----------
    net : mindspore.nn.Cell
        An inference network (``set_train(False)``) taking one (N, C, H, W) tensor.
    mode : {"auto", "graph", "pynative"}
        See :func:`resolve_mode`; ``pynative`` returns ``net`` untouched.
    cache_dir : str or os.PathLike, optional
        Root of the compile cache; the first graph of the process is stored in / loaded from
        :func:`compile_cache_dir` under it.
    pad_batches : bool
        Pad a batch of a size not compiled yet with zeros to the next larger compiled size
        (results cut back), so a last partial batch reuses the graph instead of compiling
        another (2.5-3 s).

    Returns
    -------
    mindspore.nn.Cell
        ``net``, with ``net.compiled_mode`` set to ``"graph"`` or ``"pynative"``.
    """
    import mindspore as ms

    chosen = resolve_mode(mode, cache_dir=cache_dir)
    net.compiled_mode = chosen
    if chosen == "pynative" or isinstance(net, _Compiled):
        return net
    if ms.get_context("mode") == ms.GRAPH_MODE:
        return net  # the whole process already compiles every Cell call
    jitted = ms.jit(net.construct)
    sizes: set = set()  # batch sizes compiled so far

    def _first(x):
        global _cache_used
        if cache_dir is None or not _cache_allowed():
            return jitted(x)
        folder = compile_cache_dir(cache_dir, net, x.shape, str(x.dtype))
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[_CACHE_ENV], os.environ[_PATH_ENV] = "1", str(folder)
        _cache_used = True
        try:
            try:
                return jitted(x)
            except Exception:  # the cache's own failure (unreadable entry script ...): compile without it
                os.environ.pop(_CACHE_ENV, None)
                return jitted(x)
        finally:
            # Later graphs would be numbered 1, 2 ... in this folder, in whatever order this process
            # compiles them: another process could load the wrong one. Switch the cache off (removed,
            # not "0", so that child processes start as clean as this one did).
            os.environ.pop(_CACHE_ENV, None)
            os.environ.pop(_PATH_ENV, None)

    def construct(x):
        n = x.shape[0]
        if n in sizes:
            return jitted(x)
        larger = [s for s in sizes if s > n]
        if pad_batches and larger:
            size = min(larger)
            pad = ms.ops.zeros((size - n,) + tuple(x.shape[1:]), x.dtype)
            return jitted(ms.ops.concat((x, pad), 0))[:n]
        out = _first(x) if not sizes else jitted(x)
        sizes.add(n)
        return out

    # A per-network subclass overriding __call__ (Python, outside the graph) keeps the Cell's own
    # attributes clean: a function stored on the Cell makes MindSpore's graph parser fail.
    # In training mode (a user fine-tuning it) the Cell runs op by op as before: the graph is for inference.
    plain_call = type(net).__call__
    net.__class__ = type(
        type(net).__name__,
        (type(net), _Compiled),
        {"__call__": lambda self, *args: plain_call(self, *args) if self.training else construct(*args)},
    )
    return net


class _Compiled:
    """Marker base of networks :func:`compile_network` compiled."""
