"""Package attributes imported on first use, so importing a package stays cheap."""

from __future__ import annotations

from importlib import import_module


def lazy_attributes(package: dict, where: dict[str, str]):
    """A module ``__getattr__`` for the package whose globals are ``package``.

    ``where`` maps each lazy name to the submodule defining it; the first lookup imports
    that submodule and keeps the value in the package's globals, so later ones are plain.
    """
    name_of_package = package["__name__"]

    def __getattr__(name: str):
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {name_of_package!r} has no attribute {name!r}")
        value = getattr(import_module(f".{module}", name_of_package), name)
        package[name] = value
        return value

    return __getattr__
