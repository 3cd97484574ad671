"""oneDNN's instruction-set ceiling for MindSpore on x86 CPUs: pin it before the first convolution.

Why: MindSpore 2.10's bundled oneDNN (v3.10) runs every GhostNet convolution (NCHW) on its
reference kernel ``jit_uni_ncsp:conv+ref:any`` when it dispatches at AVX-512 level. Capping it at
AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``) selects ``x64:gemm:jit`` instead. Measured with
``ONEDNN_VERBOSE=1`` on a 2-core AMD EPYC (Zen 4, AVX-512 + bf16) with GhostNet-0.5, 224 px,
batch 8, PyNative: 12.4 img/s unpinned (2.4 s of 2.6 s in the ref conv) vs 48.9 img/s pinned; on a
Sapphire Rapids Xeon 6-10 vs 47.6 img/s. The dispatch also changes the
arithmetic, so a pinned AVX-512 machine trains to the same bytes as an AVX2-only one.

When oneDNN reads the variable (measured): not at ``import
mindspore`` (libdnnl.so.3 is loaded then, but the setting is still open) and not at the first
MindSpore kernel either (add, relu, mean, hardsigmoid, concat, a small BatchNorm, checkpoint I/O
leave it open), but at the first oneDNN primitive that asks for the ISA: the first convolution or
matmul/Dense. From then on it is fixed for the process. oneDNN's C API has the same switch:
``dnnl_set_max_cpu_isa`` succeeds (0) while the setting is open and returns 2
(``dnnl_invalid_arguments``) once it is fixed, so :func:`pin_cpu_isa` uses it both to pin in a
process that imported MindSpore first and to detect "too late" and warn.

Environment variables are inherited by child processes, so msrun's workers (measured) and
``ghosthub rebuild`` subprocesses get the same ceiling; :func:`child_env` makes one explicitly.

This module imports only ``os``, ``sys`` and :mod:`ghosthub.config` (``ctypes`` lazily, only once
MindSpore is imported), so calling :func:`pin_cpu_isa` from ``ghosthub/__init__.py`` costs
microseconds. ghosthub's own setting, ``GHOSTHUB_CPU_ISA``, is read by :func:`ghosthub.config.cpu_isa`;
this module reads and writes oneDNN's variables, which are how the ceiling reaches oneDNN.
"""

from __future__ import annotations

import os
import sys

from .. import config

__all__ = [
    "CHOICE_ENV",
    "DEFAULT_ISA",
    "ISA_NAMES",
    "ONEDNN_ENV",
    "IsaInfo",
    "child_env",
    "cpu_isa_in_use",
    "pin_cpu_isa",
]

ONEDNN_ENV = "ONEDNN_MAX_CPU_ISA"
_LEGACY_ENV = "DNNL_MAX_CPU_ISA"  # oneDNN still reads the old name (the new one wins)
CHOICE_ENV = config.CPU_ISA_ENV
# Set next to ONEDNN_MAX_CPU_ISA when ghosthub put it there, so that this process and its children
# (which inherit both) can tell ghosthub's default from a user's explicit choice.
_MARK_ENV = "GHOSTHUB_ONEDNN_PINNED"
DEFAULT_ISA = "avx2"
NATIVE = "native"

# dnnl_cpu_isa_t values (dnnl_types.h). Checked on this machine with dnnl_set_max_cpu_isa /
# dnnl_get_effective_cpu_isa up to avx512_core_bf16; each value's bits include the lower ISAs',
# so "effective & ~ceiling" is non-zero exactly when oneDNN dispatches above the ceiling.
_DNNL_ISA = {
    "sse41": 0x1,
    "avx": 0x3,
    "avx2": 0x7,
    "avx2_vnni": 0xF,
    "avx2_vnni_2": 0x1F,
    "avx512_core": 0x27,
    "avx512_core_vnni": 0x67,
    "avx512_core_bf16": 0xE7,
    "avx10_1_512": 0x1EF,
    "avx512_core_fp16": 0x1EF,
    "avx10_1_512_amx": 0xFEF,
    "avx512_core_amx": 0xFEF,
    "avx10_1_512_amx_fp16": 0x1FEF,
    "avx512_core_amx_fp16": 0x1FEF,
}
# Every ceiling a recipe's cpu_isa or GHOSTHUB_CPU_ISA may name.
ISA_NAMES = frozenset({NATIVE, *_DNNL_ISA})
_X86 = frozenset({"x86_64", "amd64", "x64", "i386", "i486", "i586", "i686", "x86"})

# What the last pin_cpu_isa call did in this process (for cpu_isa_in_use).
_LAST: IsaInfo | None = None
_WARNED_LATE: set = set()


class IsaInfo:
    """What instruction-set ceiling applies to MindSpore's oneDNN in this process.

    Attributes
    ----------
    isa : str
        ``"avx2"``, another oneDNN ISA name in lower case, ``"native"`` (no ceiling: oneDNN
        uses the best the CPU has) or ``"n/a"`` (not an x86 CPU). Recorded as ``cpu_isa`` in
        provenance and cards.
    source : str
        Who chose it: ``ONEDNN_MAX_CPU_ISA`` (the user's environment), ``GHOSTHUB_CPU_ISA``,
        ``argument`` (e.g. a recipe's ``cpu_isa``), ``default`` or ``machine`` (not x86).
    machine : str
        The machine name (``os.uname().machine``).
    late : bool
        oneDNN had already fixed its dispatch above this ceiling when ghosthub tried to pin it:
        the ceiling does NOT apply in this process (a warning was issued).
    """

    __slots__ = ("isa", "source", "machine", "late")

    def __init__(self, isa: str, source: str, machine: str, late: bool = False) -> None:
        self.isa, self.source, self.machine, self.late = isa, source, machine, late

    def as_dict(self) -> dict:
        """JSON-ready fields for provenance (``{"cpu_isa": ..., "cpu_isa_source": ..., ...}``)."""
        return {"cpu_isa": self.isa, "cpu_isa_source": self.source, "machine": self.machine, "cpu_isa_late": self.late}

    def __eq__(self, other) -> bool:
        return isinstance(other, IsaInfo) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return f"IsaInfo(isa={self.isa!r}, source={self.source!r}, machine={self.machine!r}, late={self.late})"

    def __str__(self) -> str:
        if self.isa == "n/a":
            return f"no oneDNN ISA ceiling ({self.machine} is not an x86 CPU)"
        if self.isa == NATIVE:
            return f"oneDNN uses the CPU's best ISA (no ceiling; {self.source})"
        text = f"oneDNN ISA ceiling {self.isa.upper()} ({self.source})"
        if self.late:
            text += " NOT applied: MindSpore had already run a convolution"
        return text


def _machine() -> str:
    """The CPU architecture without importing ``platform`` (which costs ~10 ms)."""
    if hasattr(os, "uname"):
        return os.uname().machine.lower()
    return os.environ.get("PROCESSOR_ARCHITEW6432", os.environ.get("PROCESSOR_ARCHITECTURE", "")).lower()


def _normalise(value: str) -> str:
    value = value.strip().lower()
    return NATIVE if value in ("native", "default", "all", "none", "") else value


def _dnnl():
    """MindSpore's loaded libdnnl through ctypes, or None (MindSpore not imported yet, or not found).

    Loading it ourselves before MindSpore would be useless (the environment variable covers
    that case) and would cost ~30 ms, so this looks only once ``mindspore`` is in ``sys.modules``.
    """
    ms = sys.modules.get("mindspore")
    path = getattr(ms, "__file__", None)
    if not path:
        return None
    lib = os.path.join(os.path.dirname(path), "lib", "libdnnl.so.3")
    if not os.path.exists(lib):
        return None
    import ctypes

    try:
        return ctypes.CDLL(lib)  # the same handle MindSpore uses: dlopen of a loaded library
    except OSError:
        return None


def _user_isa(environ) -> str | None:
    """The user's own ONEDNN_MAX_CPU_ISA / DNNL_MAX_CPU_ISA, not one ghosthub set."""
    user = environ.get(ONEDNN_ENV) or environ.get(_LEGACY_ENV)
    if user and environ.get(_MARK_ENV) == user and environ.get(ONEDNN_ENV) == user:
        return None
    return user or None


def _choose(isa: str | None, environ) -> tuple[str, str]:
    """(requested ISA in lower case or 'native', source) by the precedence of :func:`pin_cpu_isa`."""
    user = _user_isa(environ)
    if user:
        return _normalise(user), ONEDNN_ENV
    chosen = config.cpu_isa(environ)
    if chosen is not None:
        return chosen, CHOICE_ENV
    if isa is not None:
        return _normalise(isa), "argument"
    return DEFAULT_ISA, "default"


def pin_cpu_isa(isa: str | None = None, *, environ=None, machine: str | None = None, warn: bool = True) -> str | None:
    """Cap oneDNN's instruction set for MindSpore at AVX2 (by default) on x86 CPUs.

    Call it before MindSpore's first convolution: from ``ghosthub/__init__.py`` (so
    ``import ghosthub`` suffices), again in the trainer with the recipe's ``cpu_isa`` and in
    ``ghosthub rebuild`` with the provenance's; it is idempotent and cheap. It works even after
    ``import mindspore`` (through oneDNN's ``dnnl_set_max_cpu_isa``), and warns when oneDNN has
    already fixed a higher dispatch (a convolution or matmul ran before), because then nothing
    can change it in this process.

    Precedence: ``ONEDNN_MAX_CPU_ISA`` (or ``DNNL_MAX_CPU_ISA``) set by the user always wins and
    is left alone; then ``GHOSTHUB_CPU_ISA`` (``native`` = no ceiling, or a oneDNN ISA name such as
    ``avx2``, ``avx512_core``); then ``isa``; then ``avx2``. Nothing happens on non-x86 machines.

    Parameters
    ----------
    isa : str, optional
        The ceiling asked for by the caller (a recipe's ``cpu_isa``): ``"avx2"``, ``"native"``, ...
    environ : mutable mapping, optional
        The environment to read and update (default ``os.environ``; tests pass a dict). oneDNN
        itself is touched only when this is ``os.environ``.
    machine : str, optional
        The CPU architecture (default: ``os.uname().machine``; tests pass ``"aarch64"``).
    warn : bool
        Issue a ``RuntimeWarning`` when the ceiling comes too late to apply.

    Returns
    -------
    str or None
        The ``ONEDNN_MAX_CPU_ISA`` value now in the environment (``"AVX2"``, or the user's), or
        None when no ceiling applies (``native``, or not x86).
    """
    global _LAST
    real = environ is None or environ is os.environ
    environ = os.environ if environ is None else environ
    machine = (machine or _machine()).lower()
    if machine not in _X86:
        if real:
            _LAST = IsaInfo("n/a", "machine", machine)
        return None
    wanted, source = _choose(isa, environ)
    if source != ONEDNN_ENV and wanted != NATIVE and wanted not in _DNNL_ISA:
        # oneDNN silently ignores a name it does not know (measured: "bogus" -> full AVX-512).
        import warnings

        warnings.warn(
            f"unknown CPU ISA {wanted!r} from {source}; expected native or one of "
            f"{', '.join(sorted(_DNNL_ISA))}: using {DEFAULT_ISA}",
            RuntimeWarning,
            stacklevel=2,
        )
        wanted = DEFAULT_ISA
    if source == ONEDNN_ENV:  # the user's own setting: applied by oneDNN itself, never overridden
        if real:
            _LAST = IsaInfo(wanted, source, machine)
        return environ.get(ONEDNN_ENV) or environ.get(_LEGACY_ENV)
    value = None if wanted == NATIVE else wanted.upper()
    ours = environ.get(_MARK_ENV) if environ.get(_MARK_ENV) == environ.get(ONEDNN_ENV) else None
    if value is None:
        if ours is not None:  # lift the ceiling an earlier call (or the parent process) set
            del environ[ONEDNN_ENV]
        environ.pop(_MARK_ENV, None)
    else:
        environ[ONEDNN_ENV] = environ[_MARK_ENV] = value
    late = False
    if real:
        late = _apply_in_process(wanted, ours)
        _LAST = IsaInfo(wanted, source, machine, late)
        if late and warn and wanted not in _WARNED_LATE:  # once per process: import ghosthub already tried
            _WARNED_LATE.add(wanted)
            import warnings

            warnings.warn(
                f"ghosthub could not cap oneDNN at {wanted.upper()}: MindSpore already ran a convolution or matmul "
                "in this process, and oneDNN fixes its instruction set then. On AVX-512 CPUs GhostNet runs "
                "4-10x slower and trains to other bytes. Import ghosthub (or call "
                "ghosthub.runtime.pin_cpu_isa()) before MindSpore's first computation, or start Python "
                f"with {ONEDNN_ENV}={wanted.upper() if wanted != NATIVE else 'DEFAULT'} in the environment.",
                RuntimeWarning,
                stacklevel=2,
            )
    return value


def _apply_in_process(wanted: str, previous: str | None) -> bool:
    """Set the ceiling in MindSpore's loaded oneDNN if it is still open; True when it is too late."""
    if wanted == NATIVE and previous is None:
        return False  # nothing of ours to undo: leave oneDNN alone
    lib = _dnnl()
    if lib is None:
        return False  # MindSpore not imported: oneDNN will read the environment variable
    code = _DNNL_ISA.get(wanted, 0x0 if wanted == NATIVE else None)
    if code is None:
        return False  # an ISA name this table lacks: the environment variable is all we can do
    if lib.dnnl_set_max_cpu_isa(code) == 0:
        return False
    # Fixed already (status 2). Too late only if oneDNN dispatches above what we want now.
    effective = lib.dnnl_get_effective_cpu_isa()
    if wanted == NATIVE:
        return previous is not None and effective == _DNNL_ISA.get(previous.lower())
    return bool(effective & ~code)


def cpu_isa_in_use(environ=None, machine: str | None = None) -> IsaInfo:
    """What ceiling applies: for the demo's printout and for provenance (``.as_dict()``).

    Without arguments, after :func:`pin_cpu_isa` ran in this process, its outcome (including
    ``late``). Otherwise what :func:`pin_cpu_isa` would choose from ``environ``. Never calls
    into oneDNN (asking it would fix its setting).
    """
    if environ is None and machine is None and _LAST is not None:
        return _LAST
    environ = os.environ if environ is None else environ
    machine = (machine or _machine()).lower()
    if machine not in _X86:
        return IsaInfo("n/a", "machine", machine)
    user = _user_isa(environ)
    if user:
        return IsaInfo(_normalise(user), ONEDNN_ENV, machine)
    if environ.get(_MARK_ENV) and environ.get(_MARK_ENV) == environ.get(ONEDNN_ENV):
        source = CHOICE_ENV if config.cpu_isa(environ) is not None else "ghosthub"
        return IsaInfo(_normalise(environ[ONEDNN_ENV]), source, machine)
    return IsaInfo(NATIVE, "not pinned", machine)


def child_env(isa: str | None = None, environ=None) -> dict:
    """An environment for a child process (msrun workers, ``ghosthub rebuild``) with ceiling ``isa``.

    ``isa`` None keeps this process's choice; ``"native"`` removes the ceiling. A user's own
    ``ONEDNN_MAX_CPU_ISA`` is kept unless ``isa`` is given, which then replaces it (a rebuild
    must use the recorded ISA to reproduce the bytes).
    """
    env = dict(os.environ if environ is None else environ)
    if isa is None:
        return env
    env.pop(_LEGACY_ENV, None)
    env[CHOICE_ENV] = _normalise(isa)
    if _normalise(isa) == NATIVE:
        env.pop(ONEDNN_ENV, None)
        env.pop(_MARK_ENV, None)
    else:
        env[ONEDNN_ENV] = env[_MARK_ENV] = _normalise(isa).upper()
    return env
