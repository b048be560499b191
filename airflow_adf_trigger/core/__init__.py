"""The Airflow-free core: settings, protocol, authentication and the ADF clients.

Nothing below this package imports Airflow, so it can be used from a shell or a notebook.

The public API is listed once, in ``__init__.pyi`` beside this file: type checkers read it as
this package's interface, and this module reads it (on the first name asked for) to load each
name from its home module only then. So importing one light module (``models``, ``errors``,
``form``) does not pull in ``requests``: DAG files import the operator at every parse, and
Airflow reads the connection form at every provider discovery.
"""

from __future__ import annotations

import importlib
from typing import Any

_homes: dict[str, str] | None = None


def _public_names() -> dict[str, str]:
    """Each public name and its home module, as ``__init__.pyi`` imports them."""
    global _homes
    if _homes is None:
        import ast
        import os

        stub = os.path.splitext(__file__)[0] + ".pyi"
        with open(stub, encoding="utf-8") as source:
            tree = ast.parse(source.read(), stub)
        _homes = {
            alias.asname or alias.name: node.module
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module
            for alias in node.names
        }
    return _homes


def __getattr__(name: str) -> Any:
    if name == "__all__":
        return sorted(_public_names())
    home = _public_names().get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_public_names()})
