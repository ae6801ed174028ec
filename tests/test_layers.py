"""The architecture's rules, checked on the source (docs/architecture.md).

* A module imports only modules of its own layer or of lower layers (imports under
  ``if TYPE_CHECKING:`` are type-only and exempt; imports inside functions count).
* Only sched/traps.py, and the hot paths it lists, yield a raw trap sentinel.
* The collector never branches on the clock kind.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "aiogc"

# Lowest first; the longest matching prefix decides a module's layer.  Keep in step with
# docs/architecture.md.
LAYERS: list[tuple[str, ...]] = [
    ("aiogc.errors", "aiogc.config", "aiogc.argtypes", "aiogc.trace.events", "aiogc.trace.metrics"),
    ("aiogc.sched",),
    ("aiogc.collector",),
    ("aiogc.trace",),
    ("aiogc.runtime",),
    ("aiogc.view",),
    ("aiogc.io",),
    ("aiogc.experiments", "aiogc.bench"),
    ("aiogc.cli", "aiogc.__main__"),
    ("aiogc",),  # the package __init__: the facade re-exporting the public API
]
# A bare ``import aiogc`` adds no dependency (importing any aiogc module runs the package's
# __init__ anyway); ``from aiogc import x`` does, and is checked.
BARE_PACKAGE = "aiogc"


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for i, prefixes in enumerate(LAYERS):
        for pre in prefixes:
            if (module == pre or module.startswith(pre + ".")) and len(pre) > best_len:
                best, best_len = i, len(pre)
    assert best >= 0, f"{module} is in no layer: add it to LAYERS and docs/architecture.md"
    return best


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _type_checking_blocks(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            for sub in node.body:
                for n in ast.walk(sub):
                    out.add(id(n))
    return out


def imports_of(src: str, me: str, is_pkg: bool = False) -> list[tuple[int, str]]:
    """(line, module) of every aiogc import in module ``me``'s source that runs (not type-only)."""
    tree = ast.parse(src)
    skip = _type_checking_blocks(tree)
    pkg = me if is_pkg else me.rsplit(".", 1)[0]
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names
                    if a.name.split(".")[0] == "aiogc" and a.name != BARE_PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "aiogc":
                out.append((node.lineno, mod))
    return out


def violations(src: str, me: str, is_pkg: bool = False) -> list[str]:
    mine = layer_of(me)
    return [f"{me}:{line} imports {mod} (layer {layer_of(mod)} > {mine})"
            for line, mod in imports_of(src, me, is_pkg) if layer_of(mod) > mine]


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    for path in SOURCES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    bad = violations(path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_violations_but_not_type_only_imports() -> None:
    src = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from aiogc.runtime import Runtime\n"
        "from aiogc.sched.g import G\n"
        "def f():\n"
        "    from aiogc.cli import main\n"
        "    from ..collector import cycle\n"
    )
    bad = violations(src, "aiogc.sched.probe")
    assert [b.split(" imports ")[1].split(" ")[0] for b in bad] == ["aiogc.cli", "aiogc.collector"]


TRAPS = {"GOSCHED", "PARK", "SAFEPOINT", "TICK", "STW"}
# The hot paths sched/traps.py lists, with the reason measured there.
RAW_YIELD_ALLOWED = {"aiogc.sched.traps", "aiogc.runtime", "aiogc.collector.cycle", "aiogc.sched.sync"}


def test_raw_trap_yields_only_where_traps_py_lists_them() -> None:
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Yield) and isinstance(node.value, ast.Name) and node.value.id in TRAPS:
                found.add(module_name(path))
    assert found <= RAW_YIELD_ALLOWED, found - RAW_YIELD_ALLOWED
    doc = (ROOT / "sched" / "traps.py").read_text(encoding="utf-8")
    for mod in found - {"aiogc.sched.traps"}:
        assert mod.removeprefix("aiogc.").split(".")[-1] in doc


def test_the_collector_never_branches_on_the_clock_kind() -> None:
    """collector/ asks the clock service (now, charge, cost) instead of testing virtual vs wall."""
    for path in sorted((ROOT / "collector").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("virtual", "clock_kind"):
                pytest.fail(f"{module_name(path)}:{node.lineno} reads .{node.attr}")
            if isinstance(node, ast.Constant) and node.value in ("virtual", "wall"):
                pytest.fail(f"{module_name(path)}:{node.lineno} compares with {node.value!r}")
