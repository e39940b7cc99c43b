"""The packages' layering, as DESIGN.md draws it: no import cycle between top-level packages but the
one seam between invitations and delivery, no product module past 400 lines, and each package's
tests in a folder of its own."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = sorted(
    path.name for path in ROOT.iterdir() if (path / "__init__.py").exists() and path.name not in ("tests", "bench")
)
SANCTIONED = {frozenset({"invitations", "delivery"})}


def product_modules():
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                yield package, path


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(PACKAGES)


def test_no_import_cycle_between_packages_but_the_sanctioned_seam():
    graph: dict[str, set[str]] = {package: set() for package in PACKAGES}
    for package, path in product_modules():
        graph[package] |= imported_packages(path) - {package}
    for pair in SANCTIONED:
        first, second = sorted(pair)
        graph[first].discard(second)
        graph[second].discard(first)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})) for nxt in graph[start])

    cycles = sorted(package for package in PACKAGES if reaches(package, package, {package}))
    assert cycles == [], {package: sorted(graph[package]) for package in cycles}
    # The layers below the rest know neither invitations nor delivery (DESIGN.md).
    for lower in ("accounts", "billing", "webhooks", "requestlog", "api", "jobs", "ops"):
        assert not graph[lower] & {"invitations", "delivery"}, (lower, graph[lower])


def test_no_product_module_is_past_400_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for _, path in product_modules()
        if (n := len(path.read_text().splitlines())) > 400
    }
    assert long == {}


def test_every_package_has_its_own_tests_folder():
    missing = [package for package in PACKAGES if not (ROOT / "tests" / package / "__init__.py").exists()]
    assert missing == []
