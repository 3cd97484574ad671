"""Running networks fast on CPUs: oneDNN ISA pin, compiled forward, BatchNorm folding, ONNX Runtime.

``isa`` is pure Python and imported eagerly (``import ghosthub.runtime`` stays cheap and must not
import MindSpore); the other modules are imported on first use of their names.
"""

from .._utils.lazy import lazy_attributes as _lazy_attributes
from .isa import child_env, cpu_isa_in_use, pin_cpu_isa

_LAZY = {
    "compile_network": "compiled",
    "resolve_mode": "compiled",
    "compile_cache_dir": "compiled",
    "fuse_batchnorm": "fuse",
    "OnnxRuntimeNetwork": "onnxrt",
    "onnx_network": "onnxrt",
    "onnx_cache_path": "onnxrt",
}

__all__ = ["child_env", "cpu_isa_in_use", "make_ready", "pin_cpu_isa", *sorted(_LAZY)]

RUNTIMES = ("mindspore", "onnxruntime")


def make_ready(net, cache_dir, *, mode: str = "auto", fuse: bool = True, runtime: str = "mindspore"):
    """``net`` made ready for inference: BatchNorm folded, forward compiled, or run by ONNX Runtime.

    Parameters
    ----------
    net : mindspore.nn.Cell
        An inference network (``set_train(False)``).
    cache_dir : str or os.PathLike
        ghosthub's cache folder: compiled graphs go to ``compile/``, ONNX exports to ``onnx/``.
    mode : {"auto", "graph", "pynative"}
        See :func:`ghosthub.runtime.compiled.compile_network`.
    fuse : bool
        Fold BatchNorm into the preceding convolutions (:func:`ghosthub.runtime.fuse.fuse_batchnorm`).
    runtime : {"mindspore", "onnxruntime"}
        ``onnxruntime`` returns :class:`ghosthub.runtime.onnxrt.OnnxRuntimeNetwork`.
    """
    from pathlib import Path

    from ..errors import ModeError
    from .compiled import compile_network, resolve_mode

    resolve_mode(mode)  # an unknown mode is an error even when nothing compiles
    if runtime not in RUNTIMES:
        raise ModeError(f"unknown runtime {runtime!r}; expected {' or '.join(RUNTIMES)}")
    if fuse:
        from .fuse import fuse_batchnorm

        fuse_batchnorm(net)
    if runtime == "onnxruntime":
        from .onnxrt import onnx_network

        return onnx_network(net, cache_dir)
    return compile_network(net, mode, cache_dir=Path(cache_dir) / "compile")


__getattr__ = _lazy_attributes(globals(), _LAZY)
