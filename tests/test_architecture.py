"""The layout rules of docs/architecture.md, checked on the package's import graph (the imports that
run, not those under ``if TYPE_CHECKING:``)."""
from __future__ import annotations

import ast
from pathlib import Path

from helpers.env import ROOT

PACKAGE = ROOT / "wxbot"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def runtime_imports(path: Path) -> set[str]:
    """Absolute names of the wxbot modules ``path`` imports at run time (TYPE_CHECKING blocks skipped)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(n) for n in ast.walk(node))
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("wxbot"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("wxbot"):
                continue
            if not name.startswith(mod + "."):  # one's own parent packages are imported first anyway
                out.add(mod)
            for alias in node.names:  # ``from . import keys`` imports a module
                if (PACKAGE.parent / (mod + "." + alias.name).replace(".", "/")).with_suffix(".py").exists() or \
                        (PACKAGE.parent / (mod + "." + alias.name).replace(".", "/") / "__init__.py").exists():
                    out.add(mod + "." + alias.name)
    return out


def graph() -> dict[str, set[str]]:
    return {module_name(p): runtime_imports(p) for p in PACKAGE.rglob("*.py")}


def test_no_import_cycles():
    g = graph()
    # A module also depends on its parent packages' __init__ (Python runs them first).
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(g.get(node, ())):
            if dep not in g or dep == node:
                continue
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep):] + [dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(g):
        if node not in state:
            visit(node)


def test_nothing_imports_the_cli_and_features_keep_their_insides():
    for mod, deps in graph().items():
        if mod != "wxbot.cli":
            assert "wxbot.cli" not in deps, f"{mod} imports wxbot.cli"
        own = mod.split(".")[2] if mod.startswith("wxbot.features.") and mod.count(".") >= 2 else None
        for dep in deps:
            if not dep.startswith("wxbot.features.") or dep.count(".") < 3:
                continue  # a feature's package (its public names) is fine
            feature = dep.split(".")[2]
            if feature == own:
                continue
            # Outside a feature, only the composition and the entry points reach into its modules
            # (its CLI group, its HTTP API); nobody reaches into another feature's insides.
            allowed = mod in ("wxbot.cli", "wxbot.app") and dep.rsplit(".", 1)[1] in ("cli", "api")
            assert allowed, f"{mod} imports {dep}, inside feature {feature}"


def test_the_routes_are_composed_in_the_documented_order(app):
    assert app.extensions["wxbot"].router.names == [
        "my_id", "staff",
        "subscribe", "unsubscribe",
        "tickets_dialog",
        "password",
        "tickets_status", "tickets_human", "tickets_no_report", "tickets_intake",
        "faq_password",
        "faq_feature", "faq",
        "click_unknown", "event", "media",
        "fallback",
    ]
