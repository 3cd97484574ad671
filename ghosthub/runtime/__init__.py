"""Running networks fast on CPUs: oneDNN ISA pin, compiled forward, BatchNorm folding, ONNX Runtime.

``isa`` is pure Python and imported eagerly (``import ghosthub.runtime`` stays cheap and must not
import MindSpore); the other modules are imported on first use of their names.
"""

from .isa import child_env, cpu_isa_in_use, pin_cpu_isa

_LAZY = {
    "compile_network": "compiled", "resolve_mode": "compiled", "compile_cache_dir": "compiled",
    "fuse_batchnorm": "fuse",
    "OnnxRuntimeNetwork": "onnxrt", "onnx_network": "onnxrt", "onnx_cache_path": "onnxrt",
}

__all__ = ["child_env", "cpu_isa_in_use", "pin_cpu_isa", *sorted(_LAZY)]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ghosthub.runtime' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
