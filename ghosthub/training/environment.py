"""What the machine decides about a run: kernel threads, data-parallel rank, device, versions.

The CPU kernel thread count changes floating-point summation order, so it is pinned from
the recipe and recorded with the device and the library versions: they say what "the same
kind of machine" means for a checkpoint's digest.
"""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np

from .._utils.warn import warn
from .._version import __version__
from ..data.pipelines import workers_for
from ..errors import TrainError, TrainWarning
from .recipe import Recipe

__all__ = ["available_cpus", "pin_threads", "distributed", "device_description", "effective", "versions"]


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_PINNED_THREADS: int | None = None


def pin_threads(threads: int) -> None:
    """Set MindSpore's CPU kernel thread count, which MindSpore allows once per process."""
    global _PINNED_THREADS
    import mindspore as ms
    from mindspore._c_expression import RuntimeConf

    if _PINNED_THREADS == threads:
        return
    if _PINNED_THREADS is not None or RuntimeConf.get_instance().is_op_threads_num_configured():
        raise TrainError(
            f"this process already runs MindSpore's CPU kernels with {_PINNED_THREADS or 'another number of'} "
            f"threads and MindSpore cannot change that, but the recipe asks for threads: {threads}. "
            "Train in a fresh process (e.g. the ghosthub train command)."
        )
    ms.device_context.cpu.op_tuning.threads_num(threads)
    _PINNED_THREADS = threads


def distributed() -> tuple[int, int]:
    """(rank, world size); initialises MindSpore's communication when started by msrun."""
    role = os.environ.get("MS_ROLE")
    if role not in ("MS_WORKER", "MS_SCHED"):
        return 0, 1
    import mindspore as ms
    from mindspore.communication import get_group_size, get_rank, init

    init()  # msrun runs the task as its scheduler too: there init() serves the cluster until it ends
    if role == "MS_SCHED":
        raise SystemExit(0)
    rank, world = get_rank(), get_group_size()
    ms.set_auto_parallel_context(parallel_mode=ms.ParallelMode.DATA_PARALLEL, gradients_mean=True, device_num=world)
    return rank, world


def device_description(target: str) -> str:
    """'CPU x86_64, Intel(R) Xeon(R) ...' -- what "the same kind of machine" means for a digest."""
    if target != "CPU":
        return target
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return f"CPU {platform.machine()}" + (f", {model}" if model else "")


def effective(recipe: Recipe, device_target: str) -> Recipe:
    """The recipe with what the machine decides made explicit: thread and worker counts, CPU amp."""
    changes: dict[str, Any] = {
        # null: the CPUs available, at most MindSpore's default of 25 (more threads only add overhead).
        "threads": recipe.threads or min(available_cpus(), 25),
        "num_parallel_workers": workers_for(recipe.num_parallel_workers),
    }
    if device_target == "CPU" and recipe.amp_level != "O0":
        warn(
            f"amp_level {recipe.amp_level} needs a GPU or Ascend device; training in O0 (float32) on CPU",
            TrainWarning,
        )
        changes["amp_level"] = "O0"
    return recipe.replace(**changes)


def versions() -> dict[str, str]:
    import mindspore as ms

    return {
        "ghosthub_version": __version__,
        "mindspore_version": ms.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
    }
