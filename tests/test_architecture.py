"""Imports point down only (ARCHITECTURE.md): read from the source with ``ast``, so that imports
inside functions and under ``TYPE_CHECKING`` count as much as those at the top of a module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "napari_darkvision"
SOURCE = Path(__file__).resolve().parent.parent / "src" / PACKAGE
CORE = f"{PACKAGE}.core"
#: The command line's modules.
CLI = (f"{PACKAGE}.cli",)
#: The core's checks of a person's parameters: the doors translate into EnhanceSettings /
#: OutputSettings, whose constructors call these, and call none themselves.
VALIDATORS = {"validate_ratio", "check_flag", "check_strength", "check_device", "check_dng_compression",
              "check_profile_source", "weights_file", "validate_raw"}  # fmt: skip


def modules_in(source: Path) -> dict[str, Path]:
    """Module name -> file, for the package whose folder is ``source``."""
    names = {}
    for path in sorted(source.rglob("*.py")):
        parts = path.relative_to(source.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The module a ``from X import ...`` names, relative levels resolved."""
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def import_graph(source: Path) -> dict[str, set[str]]:
    """Every module of the package -> the modules of the package it imports, wherever in the file."""
    modules = modules_in(source)

    def in_package(name: str) -> str | None:
        while name and name not in modules:  # the longest module the imported name starts with
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for module, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = absolute(module, path.name == "__init__.py", node)
                # `from pkg import sub` imports the module pkg.sub where there is one, else a name of pkg
                names = [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            found.update(target for name in names if (target := in_package(name)) and target != module)
        graph[module] = found
    return graph


GRAPH = import_graph(SOURCE)


def is_within(module: str, packages: tuple[str, ...] | str) -> bool:
    packages = (packages,) if isinstance(packages, str) else packages
    return any(module == p or module.startswith(p + ".") for p in packages)


def edges(within, targets) -> list[str]:
    return sorted(
        f"{source} -> {target}"
        for source, imported in GRAPH.items()
        if is_within(source, within)
        for target in imported
        if targets(target)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_reader_sees_function_level_and_type_checking_imports(tmp_path):
    """The checks below can fail: a hidden climb out of core is found."""
    fake = tmp_path / PACKAGE
    (fake / "core").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "cli.py").write_text("")
    (fake / "core" / "__init__.py").write_text("")
    (fake / "core" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .. import cli\n"
        "def f():\n    from napari_darkvision import __version__\n    from . import b\n"
    )
    (fake / "core" / "b.py").write_text("import napari_darkvision.core.a as a\n")
    graph = import_graph(fake)
    assert set(graph) == {PACKAGE, f"{PACKAGE}.cli", CORE, f"{CORE}.a", f"{CORE}.b"}
    assert graph[f"{CORE}.a"] == {f"{PACKAGE}.cli", PACKAGE, f"{CORE}.b"}
    assert cycles(graph) == [[f"{CORE}.a", f"{CORE}.b"]]


def test_core_imports_nothing_of_the_package_outside_core():
    assert edges(CORE, lambda target: not is_within(target, CORE)) == []


def test_batch_does_not_import_the_command_line():
    assert edges(f"{PACKAGE}.batch", lambda target: is_within(target, CLI)) == []


def test_no_import_cycle_between_modules_of_the_package():
    assert cycles(GRAPH) == []


def validator_calls(source: Path) -> list[str]:
    """Where a door (the command line, the batch, the napari plugin, the package's API) calls one of
    the core's parameter checks."""
    found = []
    doors = (*CLI, f"{PACKAGE}.batch", f"{PACKAGE}.plugin")
    for module, path in modules_in(source).items():
        if not (is_within(module, doors) or module == PACKAGE):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                called = (
                    node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                )
                if called in VALIDATORS:
                    found.append(f"{module}:{node.lineno} {called}")
    return found


def test_the_doors_call_none_of_the_cores_validators(tmp_path):
    fake = tmp_path / PACKAGE
    (fake / "core").mkdir(parents=True)
    (fake / "cli.py").write_text("from .core.parameters import check_flag\ncheck_flag(1, 'x')\n")
    (fake / "core" / "settings.py").write_text("check_flag(1, 'x')\n")
    assert validator_calls(fake) == [f"{PACKAGE}.cli:2 check_flag"]  # the check can fail
    assert validator_calls(SOURCE) == []
