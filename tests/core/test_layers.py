"""Imports run downward: the core (assistant/, outside assistant/cli/) never imports a surface (assistant/cli/,
server/), and the settings schema imports no feature. Read from the source with `ast`, so an import inside a
function counts as much as one at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SURFACES = ("assistant.cli", "server")
SETTINGS_MAY_IMPORT = ("assistant.engine.sampling", "assistant.errors")
"""What the settings schema may import from Hearth: values and errors, no feature."""


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `path`, relative ones resolved against its package."""
    name = _module_name(path, root)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            # `from .. import server` names a module too: count `base.server` as well as `base`.
            found += [(node.lineno, module)] + [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def _within(module: str, roots: tuple[str, ...]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def core_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "assistant").rglob("*.py") if "cli" not in p.relative_to(ROOT).parts[1:2])


def test_the_walk_sees_the_core() -> None:
    names = {_module_name(p) for p in core_modules()}
    assert {"assistant.assistant", "assistant.settings", "assistant.engine.llamacpp"} <= names
    assert not any(_within(n, SURFACES) for n in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_a_surface(path: Path) -> None:
    upward = [f"{path.relative_to(ROOT)}:{line} imports {module}" for line, module in imports_of(path)
              if _within(module, SURFACES)]
    assert not upward, "the core imports a surface:\n" + "\n".join(upward)


def test_settings_import_no_feature() -> None:
    for rel in ("assistant/settings.py", "assistant/settings_doc.py"):
        own = [(line, m) for line, m in imports_of(ROOT / rel) if _within(m, ("assistant",))]
        feature = [f"{rel}:{line} imports {m}" for line, m in own
                   if not _within(m, SETTINGS_MAY_IMPORT + ("assistant.settings", "assistant.settings_doc"))
                   and m != "assistant"]
        assert not feature, "settings import a feature:\n" + "\n".join(feature)


def test_the_check_sees_upward_imports(tmp_path: Path) -> None:
    """Every spelling of an upward import is caught: absolute, relative, inside a function, `from . import`."""
    engine = tmp_path / "assistant" / "engine"
    engine.mkdir(parents=True)
    (engine / "probe.py").write_text(
        "from ..cli.options import settings_command\n"
        "from .. import cli\n"
        "def f():\n    import server.app\n    from server import service\n"
        "from .sampling import SamplingParams\nimport assistant.errors\n", encoding="utf-8")
    found = imports_of(engine / "probe.py", tmp_path)
    upward = sorted({(line, m) for line, m in found if _within(m, SURFACES)})
    assert upward == [(1, "assistant.cli.options"), (1, "assistant.cli.options.settings_command"),
                      (2, "assistant.cli"), (4, "server.app"), (5, "server"), (5, "server.service")]
    assert (6, "assistant.engine.sampling") in found and (7, "assistant.errors") in found
