"""The core's public API: one short list (``core.PUBLIC``), loaded name by name, documented."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import airflow_adf_trigger.core as core
from tests.fresh import loaded_by


def type_checking_imports() -> dict[str, str]:
    """What ``if TYPE_CHECKING:`` in core/__init__.py imports, for type checkers."""
    tree = ast.parse(Path(core.__file__).read_text())
    (block,) = [node for node in tree.body if isinstance(node, ast.If)]
    return {
        alias.asname or alias.name: node.module
        for node in block.body
        if isinstance(node, ast.ImportFrom) and node.module
        for alias in node.names
    }


def test_the_list_is_the_whole_public_api_and_short() -> None:
    assert core.__all__ == sorted(core.PUBLIC)
    assert len(core.PUBLIC) <= 20
    for name, home in core.PUBLIC.items():
        assert getattr(core, name) is getattr(importlib.import_module(home), name), name
    assert set(core.PUBLIC) <= set(dir(core))


def test_type_checkers_see_the_same_names_from_the_same_homes() -> None:
    assert type_checking_imports() == core.PUBLIC


def test_a_star_import_gives_exactly_the_public_api() -> None:
    namespace: dict[str, object] = {}
    exec("from airflow_adf_trigger.core import *", namespace)
    assert sorted(k for k in namespace if k != "__builtins__") == core.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="has no attribute 'settings_from_nowhere'"):
        core.settings_from_nowhere  # noqa: B018


def test_a_light_name_loads_no_http_client() -> None:
    """A DAG file may import RunStatus or an error from the core at every parse."""
    statements = [
        "import airflow_adf_trigger.core.config.form",
        "from airflow_adf_trigger.core import AdfError, RunStatus, PipelineRun",
    ]
    assert loaded_by(statements, ("requests", "httpx", "azure")) == []


def test_every_public_name_has_a_docstring() -> None:
    for name in core.__all__:
        value = getattr(core, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name


def documented_callables() -> list[tuple[str, object]]:
    """The public functions, and the public classmethods (constructors) of public classes."""
    found: list[tuple[str, object]] = []
    for name in core.__all__:
        value = getattr(core, name)
        if inspect.isfunction(value):
            found.append((name, value))
        elif inspect.isclass(value):
            found += [
                (f"{name}.{attr}", raw.__func__)
                for attr, raw in vars(value).items()
                if isinstance(raw, classmethod) and not attr.startswith("_")
            ]
    return found


def test_every_parameter_of_a_public_function_is_documented() -> None:
    """In the style of the Airflow classes: ``:param name:`` for each argument."""
    for name, function in documented_callables():
        doc = inspect.getdoc(function) or ""
        for parameter in inspect.signature(function).parameters:
            if parameter != "cls":
                assert f":param {parameter}:" in doc, f"{name}({parameter})"


def public_callables(package: Path) -> list[str]:
    """``module:qualname`` of each public function, class and method lacking a docstring."""
    missing = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text())
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    continue
                if child.name.startswith("_"):
                    continue
                if ast.get_docstring(child) is None:
                    missing.append(f"{path.name}:{prefix}{child.name}")
                if isinstance(child, ast.ClassDef):
                    stack.append((child, f"{prefix}{child.name}."))
    return missing


@pytest.mark.parametrize("package", ["core", "emulator"])
def test_every_public_callable_has_a_docstring(package: str) -> None:
    root = Path(core.__file__).parent.parent / package
    assert public_callables(root) == []


@pytest.mark.parametrize("entry_point", ["EmulatorServer", "Scenario", "Extension"])
def test_the_emulators_entry_points_document_their_parameters(entry_point: str) -> None:
    """What a user's own DAG tests call: the server, the scenario, the extension seam."""
    import airflow_adf_trigger.emulator as emulator

    cls = getattr(emulator, entry_point)
    class_doc = inspect.getdoc(cls) or ""
    constructor = inspect.signature(cls)
    for parameter in constructor.parameters:
        if entry_point != "Scenario":  # a scenario's fields are documented one by one
            assert f":param {parameter}:" in class_doc, f"{entry_point}({parameter})"
    for attr, raw in vars(cls).items():
        function = raw.__func__ if isinstance(raw, classmethod) else raw
        if attr.startswith("_") or not inspect.isfunction(function):
            continue
        doc = inspect.getdoc(function) or ""
        assert doc, f"{entry_point}.{attr}"
        for parameter in inspect.signature(function).parameters:
            if parameter not in ("self", "cls"):
                assert f":param {parameter}:" in doc, f"{entry_point}.{attr}({parameter})"
