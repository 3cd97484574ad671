"""MindCV's networks as ghosthub architectures (``pip install 'ghosthub[mindcv]'``), mindcv imported only to build.

Every name the installed mindcv registers (``@register_model``) is an architecture: the builder is
``mindcv.create_model(name, pretrained=False, ...)``, never mindcv's own download or checkpoint
loading, so weights come through ghosthub's verified cache and strict load. The names are read
from mindcv's source files, not by importing it (about 2 s, and MindSpore with it), and kept in
the cache per installed copy, so that ``ghosthub list`` can say which cards build here.

Names differ between mindcv versions: MindSpore Hub 2.x's cards use mindcv 0.5's spelling, and
either spelling resolves to the one the installed mindcv has (:data:`RENAMED`).
"""

from __future__ import annotations

import json
import os
import re

from .registry import Architecture, cache_folder, register_provider

__all__ = ["EXTRA", "PROVIDER", "RENAMED", "MindCV"]

EXTRA = "pip install 'ghosthub[mindcv]'"
# The same network under two spellings: MindSpore Hub 2.x's cards (mindcv 0.5) -> mindcv 0.3.
RENAMED = {"bit_resnet50": "BiT_resnet50", "vit_b32_224": "vit_b_32_224", "vit_l32_224": "vit_l_32_224"}
# A registered model in mindcv's source: the decorator, maybe others, then the function named as the model.
_REGISTERED = r"^@register_model[ \t]*\r?\n(?:@[^\n]*\n)*def[ \t]+(\w+)"
_VERSION = r"""__version__\s*=\s*["']([^"']+)["']"""  # patterns compiled when used, not on ghosthub list
_CACHE_FORMAT = 1


class MindCV:
    """The lazy provider of MindCV's architectures (see :func:`ghosthub.architectures.register_provider`)."""

    library = "mindcv"

    def __init__(self) -> None:
        self._names: dict[str, str] | None = None
        self._looked = False
        self._specs: dict[str, Architecture] = {}
        # Where the name list and the checks are kept; None: the cache of the Client at work
        # (ghosthub.architectures.using_cache), else ghosthub's cache as the environment says now.
        self.cache_dir: str | os.PathLike | None = None

    # ------------------------------------------------------------------ without importing mindcv

    @staticmethod
    def location() -> str | None:
        """The installed mindcv package's folder, or None (found without importing it)."""
        from importlib.util import find_spec

        try:
            spec = find_spec("mindcv")
        except (ImportError, ValueError):  # hidden, or a broken entry in sys.modules
            return None
        if spec is None or not spec.origin or not os.path.isfile(spec.origin):
            return None
        return os.path.dirname(spec.origin)

    def version(self) -> str | None:
        """The installed mindcv's version, read from its ``version.py``; None when not installed."""
        folder = self.location()
        if folder is None:
            return None
        try:
            with open(os.path.join(folder, "version.py"), encoding="utf-8") as f:
                found = re.search(_VERSION, f.read())
        except OSError:
            return "unknown"
        return found.group(1) if found else "unknown"

    def names(self) -> dict[str, str] | None:
        """Lower-case name -> mindcv's name, for every model the installed mindcv registers; None without mindcv.

        Both spellings of a renamed model (:data:`RENAMED`) map to the installed one.
        """
        if not self._looked:  # once per process: the installed mindcv does not change under it
            self._looked = True
            registered = self._registered()
            if registered is not None:
                names = {n.lower(): n for n in registered}
                for new, old in RENAMED.items():
                    for alias, real in ((new, old), (old, new)):
                        if alias.lower() not in names and real.lower() in names:
                            names[alias.lower()] = names[real.lower()]
                self._names = names
        return self._names

    def _registered(self) -> list[str] | None:
        folder = self.location()
        models = os.path.join(folder, "models") if folder else None
        if models is None or not os.path.isdir(models):
            return None
        stamp = [folder, os.stat(models).st_mtime_ns, self.version()]
        cache = self._cache_file()
        try:
            with open(cache, encoding="utf-8") as f:
                held = json.load(f)
            if held.get("format") == _CACHE_FORMAT and held.get("stamp") == stamp:
                return held["names"]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass
        names = []
        for entry in sorted(os.listdir(models)):
            if entry.endswith(".py"):
                with open(os.path.join(models, entry), encoding="utf-8") as f:
                    names += re.findall(_REGISTERED, f.read(), re.M)
        try:
            from .._utils.fs import write_json

            write_json(cache, {"format": _CACHE_FORMAT, "stamp": stamp, "names": sorted(names)}, indent=None)
        except OSError as exc:  # a read-only cache: read the sources again next time
            _debug("cannot keep mindcv's name list in %s: %s", cache, exc)
        return names

    def _cache_file(self) -> str:
        cache_dir = self.cache_dir or cache_folder()
        if cache_dir is None:
            from ..config import settings

            cache_dir = settings().cache_dir
        return os.path.join(os.fspath(cache_dir), "architectures", "mindcv-names.json")

    def advice(self, name: str) -> str:
        """What to do about a MindCV card whose architecture is not available here."""
        version = self.version()
        if version is None:
            return f"its library is mindcv, which is not installed: {EXTRA}"
        return (
            f"its library is mindcv, and the installed mindcv {version} registers no {name!r}: another mindcv "
            "version may (pip install -U mindcv)"
        )

    # ------------------------------------------------------------------ importing mindcv

    def architecture(self, name: str) -> Architecture:
        """The architecture of mindcv's model ``name``: head, stem and preprocessing from its ``default_cfgs``."""
        if name not in self._specs:
            cfg = _default_cfg(name)
            # mean and std are left out: ghosthub's are on the 0-255 scale, and no mindcv cfg states them.
            preprocessing = {k: cfg[k] for k in ("crop_pct", "interpolation") if cfg.get(k)}
            if cfg.get("input_size"):
                preprocessing["input_size"] = cfg["input_size"]
            self._specs[name] = Architecture(
                name=name,
                builder=lambda **kwargs: self._build(name, **kwargs),
                classifier=(cfg.get("classifier") or "classifier",),
                first_conv=cfg.get("first_conv") or None,
                preprocessing=preprocessing or None,
                library="mindcv",
            )
        return self._specs[name]

    def _build(self, name: str, num_classes: int = 1000, in_channels: int = 3, **kwargs):
        mindcv = _import_mindcv()
        import mindspore as ms

        where = f"mindcv {mindcv.__version__}'s {name!r} under MindSpore {ms.__version__}"
        key = f"{mindcv.__version__}/{name}"
        try:
            net = mindcv.create_model(
                name, num_classes=num_classes, in_channels=in_channels, pretrained=False, **kwargs
            )
        except Exception as exc:  # mindcv's own code: every kind of error, none of them ours
            self._record(key, ms.__version__, f"{type(exc).__name__} while building")
            raise _own_failure(where, "building the network", exc) from exc
        net.default_cfg = _checked_cfg(net, self.architecture(name), num_classes, in_channels)
        self._probe(net, key, where, in_channels)
        return net

    def _probe(self, net, key: str, where: str, in_channels: int) -> None:
        """One forward pass of a zero image, the first time this mindcv builds ``name`` with this MindSpore.

        Some mindcv networks build and then fail in their first forward pass (pvt_tiny and
        swinv2_tiny_window8 in mindcv 0.3.0 under MindSpore 2.10): that is found here, at load,
        and said to be mindcv's failure, rather than in the user's first call. A pass is recorded
        in the cache, so each architecture is checked once per machine and version pair (1-4 s on
        2 cores for ImageNet-sized networks); a failure is recorded for :meth:`failure` and checked
        again at the next build.
        """
        import mindspore as ms

        if self._checked().get(key) == {"mindspore": ms.__version__, "ok": True}:
            return
        size = net.default_cfg.get("input_size") or 224
        height, width = (size, size) if isinstance(size, int) else tuple(size)[-2:]
        training = net.training
        net.set_train(False)
        try:
            net(ms.ops.zeros((1, in_channels, int(height), int(width)), ms.float32))
        except Exception as exc:
            self._record(key, ms.__version__, f"{type(exc).__name__} in its first forward pass")
            raise _own_failure(where, "its first forward pass (a zero image)", exc) from exc
        finally:
            net.set_train(training)
        self._record(key, ms.__version__, None)

    def failure(self, name: str) -> str | None:
        """How the installed mindcv's ``name`` failed when last built on this machine, or None."""
        entry = self._checked().get(f"{self.version()}/{name}")
        return entry.get("error") if isinstance(entry, dict) else None

    def _checked_file(self) -> str:
        return os.path.join(os.path.dirname(self._cache_file()), "mindcv-checked.json")

    def _checked(self) -> dict:
        try:
            with open(self._checked_file(), encoding="utf-8") as f:
                checked = json.load(f)
        except (OSError, ValueError):
            return {}
        return checked if isinstance(checked, dict) else {}

    def _record(self, key: str, mindspore: str, error: str | None) -> None:
        checked = self._checked()
        checked[key] = (
            {"mindspore": mindspore, "ok": True} if error is None else {"mindspore": mindspore, "error": error}
        )
        try:
            from .._utils.fs import write_json

            write_json(self._checked_file(), checked, indent=None)
        except OSError as exc:  # a read-only cache: checked again next time
            _debug("cannot record the check of %s: %s", key, exc)


def _own_failure(where: str, stage: str, exc: Exception):
    from ..errors import ArchitectureError

    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    error = ArchitectureError(
        f"{where} failed in {stage}: {type(exc).__name__}{': ' + reason if reason else ''}. This is mindcv's own "
        "failure, not a ghosthub check or your weights: try another mindcv version (pip install -U mindcv) or "
        "another architecture."
    )
    error.library = "mindcv"
    return error


def _debug(message: str, *args) -> None:
    import logging  # not at import: `ghosthub list` reads mindcv's names without it

    logging.getLogger(__name__).debug(message, *args)


def _import_mindcv():
    try:
        import mindcv
    except ImportError as exc:
        from ..errors import UnsupportedBackboneError

        raise UnsupportedBackboneError(f"MindCV's networks need mindcv ({exc}): {EXTRA}") from None
    return mindcv


def _default_cfg(name: str) -> dict:
    """mindcv's ``default_cfgs`` entry of a model (its module's table: every mindcv version has one)."""
    import sys

    mindcv = _import_mindcv()
    registry = mindcv.models.registry
    if not registry.is_model(name):
        from ..errors import UnsupportedBackboneError

        raise UnsupportedBackboneError(
            f"mindcv {mindcv.__version__} registers no {name!r} (its source names it, but importing it did not "
            "register it): the installed mindcv may be damaged; reinstall it (pip install --force-reinstall mindcv)"
        )
    module = sys.modules.get(registry.model_entrypoint(name).__module__)
    return dict((getattr(module, "default_cfgs", None) or {}).get(name) or {})


def _checked_cfg(net, spec: Architecture, num_classes: int, in_channels: int) -> dict:
    """The network's default_cfg, with head and stem names checked against its parameters.

    Some mindcv ``default_cfgs`` leave the classifier or first conv empty or name one the network
    does not have (edgenext says ``last_linear``; its head is ``head``). Then the names come from
    the network itself: the last 2-D or 4-D weight with ``num_classes`` outputs, the first 4-D
    weight with ``in_channels`` inputs.
    """
    shapes = {n: tuple(p.shape) for n, p in net.parameters_and_names()}
    cfg = spec.default_cfg()
    head = spec.classifier[0]
    if num_classes > 0 and shapes.get(f"{head}.weight", (None,))[0] != num_classes:
        heads = [n for n, s in shapes.items() if n.endswith(".weight") and len(s) in (2, 4) and s[0] == num_classes]
        if heads:
            _debug("mindcv %s: classifier %r is %r", spec.name, head, heads[-1][: -len(".weight")])
            cfg["classifier"] = heads[-1][: -len(".weight")]
    stem = spec.first_conv
    if len(shapes.get(f"{stem}.weight", ())) != 4 or shapes[f"{stem}.weight"][1] != in_channels:
        stems = [n for n, s in shapes.items() if n.endswith(".weight") and len(s) == 4 and s[1] == in_channels]
        if stems:
            cfg["first_conv"] = stems[0][: -len(".weight")]
    return cfg


PROVIDER = MindCV()
register_provider(PROVIDER)
