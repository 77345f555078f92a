"""The layout rules of compat_init/port/ that import-linter's contracts
(setup.cfg, the lint session) do not state: no lazy import between its
modules, no private name imported across files, no module over 500 lines.
Read with ``ast``: nothing is imported or run."""
import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "compat_init")
PORT = os.path.join(PACKAGE, "port")
MOST_LINES = 500


def _modules(folder):
    for top, _, files in os.walk(folder):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(top, name)
                yield os.path.relpath(path, ROOT), path


def _tree(path):
    with open(path, encoding="utf-8") as f:
        return ast.parse(f.read())


def lazy_port_imports(tree):
    """(line, module) of each import of a compat_init.port module made inside
    a function or a class, not at the top of the file."""
    top = set(id(node) for node in tree.body)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in top and (node.module or "").startswith(
                "compat_init.port"):
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import) and id(node) not in top:
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("compat_init.port")]
    return found


def private_imports(tree):
    """(line, module, name) of each private name imported from another
    module of compat_init.port."""
    return [(node.lineno, node.module, alias.name) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("compat_init.port")
            for alias in node.names if alias.name.startswith("_")]


PORT_MODULES = list(_modules(PORT))
PACKAGE_MODULES = list(_modules(PACKAGE))


def test_the_port_package_has_its_layers():
    folders = sorted(d for d in os.listdir(PORT) if os.path.isdir(os.path.join(PORT, d)) and d != "__pycache__")
    assert folders == ["_core", "_files", "_proof", "_sides"]


@pytest.mark.parametrize("name,path", PORT_MODULES, ids=[n for n, _ in PORT_MODULES])
def test_no_lazy_import_between_port_modules(name, path):
    assert lazy_port_imports(_tree(path)) == [], "{}: import it at the top (a lazy import hides an edge)".format(name)


@pytest.mark.parametrize("name,path", PACKAGE_MODULES, ids=[n for n, _ in PACKAGE_MODULES])
def test_no_private_name_crosses_a_file(name, path):
    assert private_imports(_tree(path)) == [], "{}: a name used across files is public inside the package".format(name)


@pytest.mark.parametrize("name,path", PORT_MODULES, ids=[n for n, _ in PORT_MODULES])
def test_no_port_module_is_over_500_lines(name, path):
    with open(path, encoding="utf-8") as f:
        lines = sum(1 for _ in f)
    assert lines <= MOST_LINES, "{} has {} lines".format(name, lines)


def test_the_checks_see_what_they_look_for():
    """Each check finds its kind of fault in a module written to have it."""
    bad = ast.parse("from compat_init.port._core.text import _hidden\n\n"
                    "def f():\n    from compat_init.port._sides.legacy import LegacyModel\n    import compat_init.port._core\n")
    assert lazy_port_imports(bad) == [(4, "compat_init.port._sides.legacy"), (5, "compat_init.port._core")]
    assert private_imports(bad) == [(1, "compat_init.port._core.text", "_hidden")]
