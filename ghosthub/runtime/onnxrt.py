"""ONNX Runtime as an optional inference backend (``--runtime onnxruntime``, ``pip install 'ghosthub[onnx]'``).

Why: on a 2-core x86 CPU onnxruntime runs GhostNet-0.5 3-5x faster than MindSpore's PyNative
mode (262 vs 60 img/s at batch 1; see bench/bench_inference.py for this
machine). MindSpore stays the default and the only required runtime: the model is exported by
MindSpore itself (``mindspore.export(..., file_format="ONNX")``, through
:func:`ghosthub.tasks.inference.export_network`, which spells SqueezeExcite's hard-sigmoid out),
once per weights and batch shape, into the cache, and checked against MindSpore's logits right
after the export.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from ..errors import ExportMismatchError, MissingExtraError

__all__ = ["OnnxRuntimeNetwork", "onnx_cache_path", "onnx_network", "weights_digest"]

INSTALL_HINT = "pip install 'ghosthub[onnx]'  (or: pip install onnxruntime)"
# Exported graph vs MindSpore: max |logit difference| allowed, relative to the largest |logit|.
# Measured for GhostNet-0.5: 1e-7 to 1e-5 with weights of a trained scale; up to ~1e-3 with
# MindSpore's untrained He initialisation, whose logits reach 1e5-1e6 and lose digits to
# cancellation. The bound keeps a 10x margin over that; a wrong export is off by O(1).
VERIFY_RTOL = 1e-2


def _ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingExtraError(
            f"the onnxruntime runtime needs the onnxruntime package: {INSTALL_HINT}", extra="onnx"
        ) from None
    return onnxruntime


def weights_digest(net) -> str:
    """SHA-256 of a network's parameter names, shapes and values (when no checkpoint SHA-256 is at hand)."""
    h = hashlib.sha256()
    for name, p in sorted(net.parameters_and_names(), key=lambda item: item[0]):
        value = np.ascontiguousarray(p.asnumpy())
        h.update(f"{name}:{value.dtype}:{value.shape};".encode())
        h.update(value.tobytes())
    return h.hexdigest()


def onnx_cache_path(cache_dir: str | os.PathLike, weights_sha256: str, input_shape, *, fused: bool = False) -> Path:
    """Where the ONNX export of these weights for inputs of ``input_shape`` lives in the cache.

    ``cache_dir/onnx/<sha256[:16]>-<N>x<C>x<H>x<W>[-bnfused]-ms<MindSpore version>.onnx``.
    """
    import mindspore as ms

    shape = "x".join(str(int(d)) for d in input_shape)
    tag = "-bnfused" if fused else ""
    return Path(cache_dir) / "onnx" / f"{weights_sha256[:16]}-{shape}{tag}-ms{ms.__version__}.onnx"


class Logits(np.ndarray):
    """The logits onnxruntime returns: a numpy array that also answers ``asnumpy()``.

    Code written for MindSpore's output (``net(x).asnumpy()``, as ``predict_images`` and
    ``evaluate_folder`` do) works unchanged, and no MindSpore object is made per call (a first
    version returned ``mindspore.Tensor``; interleaved in one process it used 5-20% more CPU time
    per image than bare onnxruntime in one run, but a rerun on the same overloaded machine was
    within noise, so the gain is not established).
    """

    def asnumpy(self) -> np.ndarray:
        return self.view(np.ndarray)


class OnnxRuntimeNetwork:
    """A MindSpore network's stand-in that runs its ONNX export with onnxruntime.

    Called like the network: ``net(x)`` with a ``mindspore.Tensor`` or a numpy array of shape
    (N, C, H, W) returns the logits as :class:`Logits` (a numpy array with ``asnumpy()``), so
    ``predict_images`` and ``evaluate_folder`` use it unchanged. Other attributes
    (``num_classes``, ``default_cfg`` ...) are the MindSpore network's.

    One ONNX file per batch size: the first call with a new size exports (MindSpore, 2-3 s),
    verifies and caches it; a smaller batch than one already exported is padded to it.
    Build it with :func:`onnx_network`.
    """

    def __init__(
        self,
        net,
        cache_dir: str | os.PathLike,
        weights_sha256: str | None = None,
        *,
        threads: int | None = None,
        verify: bool = True,
    ) -> None:
        self._ort = _ort()
        self.net = net
        self.cache_dir = Path(cache_dir)
        self.weights_sha256 = weights_sha256 or weights_digest(net)
        self.threads = threads
        self.verify = verify
        self.sessions: dict[int, tuple] = {}  # batch size -> (session, its input's name)
        self.paths: dict[int, Path] = {}

    def __getattr__(self, name):
        if name == "net":  # not set yet (half-built object)
            raise AttributeError(name)
        return getattr(self.net, name)

    def _session(self, path: Path):
        options = self._ort.SessionOptions()
        if self.threads:
            options.intra_op_num_threads = self.threads
        return self._ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def _prepare(self, x: np.ndarray):
        """Export (once per cache), verify against MindSpore, and open the session for x's shape."""
        import mindspore as ms

        from ..tasks.inference import export_network

        shape = tuple(x.shape)
        path = onnx_cache_path(self.cache_dir, self.weights_sha256, shape, fused=bool(getattr(self.net, "bn_fused", 0)))
        record = path.with_suffix(".json")
        fresh = not (path.exists() and record.exists())
        if fresh:
            export_network(self.net, path, file_format="ONNX", input_shape=shape)
        session = self._session(path)
        if fresh and self.verify:
            expected = self.net(ms.Tensor(x)).asnumpy()
            got = session.run(None, {session.get_inputs()[0].name: x})[0]
            diff = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
            scale = max(1.0, float(np.abs(expected).max()))
            if not diff <= VERIFY_RTOL * scale:
                path.unlink(missing_ok=True)
                raise ExportMismatchError(
                    f"the ONNX export of this network disagrees with MindSpore (max |logit difference| {diff:.3g}, "
                    f"allowed {VERIFY_RTOL * scale:.3g}); use the default MindSpore runtime, and please report this",
                    max_diff=diff,
                    bound=VERIFY_RTOL * scale,
                )
            tmp = record.with_suffix(".json.tmp")
            tmp.write_text(
                json.dumps({"max_abs_diff": diff, "input_shape": list(shape), "weights_sha256": self.weights_sha256})
            )
            os.replace(tmp, record)
        self.sessions[shape[0]] = (session, session.get_inputs()[0].name)
        self.paths[shape[0]] = path
        return self.sessions[shape[0]]

    def __call__(self, x) -> Logits:
        arr = np.ascontiguousarray(x if isinstance(x, np.ndarray) else x.asnumpy(), dtype=np.float32)
        n = arr.shape[0]
        entry = self.sessions.get(n)
        if entry is None:
            larger = [b for b in self.sessions if b > n]
            if larger:
                size = min(larger)
                arr = np.concatenate([arr, np.zeros((size - n,) + arr.shape[1:], np.float32)])
                entry = self.sessions[size]
            else:
                entry = self._prepare(arr)
        session, name = entry
        out = session.run(None, {name: arr})[0]
        if out.shape[0] != n:
            out = out[:n]
        return out.view(Logits)


def onnx_network(
    net,
    cache_dir: str | os.PathLike,
    weights_sha256: str | None = None,
    *,
    threads: int | None = None,
    verify: bool = True,
) -> OnnxRuntimeNetwork:
    """Run ``net`` with onnxruntime from now on (``ghosthub.load(..., runtime="onnxruntime")``).

    Call it on the loaded inference network (optionally BN-fused) in ``load`` / the CLI's
    ``predict`` and ``eval`` when ``--runtime onnxruntime`` is given, with the ghosthub cache
    folder and the checkpoint's SHA-256 from its card.

    Parameters
    ----------
    net : mindspore.nn.Cell
        The inference network (``set_train(False)``), kept for exports and verification.
    cache_dir : str or os.PathLike
        ghosthub's cache folder; exports go to ``cache_dir/onnx/`` (:func:`onnx_cache_path`).
    weights_sha256 : str, optional
        The checkpoint's SHA-256 (the cache key); default: :func:`weights_digest` of ``net``.
    threads : int, optional
        onnxruntime's intra-op threads (default: onnxruntime's, one per core).
    verify : bool
        Compare the first batch's logits with MindSpore's after an export; a mismatch raises.

    Raises
    ------
    MissingExtraError
        onnxruntime is not installed (the message says ``pip install 'ghosthub[onnx]'``).
    ExportMismatchError
        Not here, but from the returned network's first call of a batch size: its logits through
        ONNX Runtime differ from MindSpore's (the export is removed from the cache).
    """
    return OnnxRuntimeNetwork(net, cache_dir, weights_sha256, threads=threads, verify=verify)
