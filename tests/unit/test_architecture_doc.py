"""docs/ARCHITECTURE.md names every module under src/verihook ("Who owns what").

A module is named when its path below src/verihook is in backticks (`api/filters.py`), or when a table row whose
first cell names its package (`service/`, `store/postgres.py`, ...) names the module by its file name or stem in
backticks (`access`, `app.py`), as the rows for packages do. A package's `__init__.py` is named with the package
(`receiver/`); the top-level one as `__init__.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "verihook"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
TICKED = re.compile(r"`([^`]+)`")


def modules() -> list[str]:
    return sorted(path.relative_to(SRC).as_posix() for path in SRC.rglob("*.py"))


def is_named(module: str, doc: str, rows: list[tuple[set[str], set[str]]]) -> bool:
    ticked = {tick for line in doc.splitlines() if not line.startswith("```") for tick in TICKED.findall(line)}
    if module == "__init__.py":
        return "__init__.py" in ticked
    parent, _, name = module.rpartition("/")
    if name == "__init__.py":
        return f"{parent}/" in ticked
    if module in ticked:
        return True
    packages = [parent[:index + 1] for index, char in enumerate(parent + "/") if char == "/" and index]
    wanted = {name, name.removesuffix(".py"), module.removeprefix(packages[0]) if packages else name}
    for first_cell, row in rows:
        owners = {tick for tick in first_cell if any(tick.startswith(package) for package in packages)}
        if owners and (wanted & row):
            return True
    return False


def table_rows(doc: str) -> list[tuple[set[str], set[str]]]:
    rows = []
    for line in doc.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            rows.append((set(TICKED.findall(first_cell)), set(TICKED.findall(line))))
    return rows


def test_every_module_is_named_in_the_architecture_doc() -> None:
    doc = DOC.read_text()
    rows = table_rows(doc)
    missing = [module for module in modules() if not is_named(module, doc, rows)]
    assert missing == [], f"docs/ARCHITECTURE.md does not name {missing}: add a row to 'Who owns what'"


def test_the_check_sees_a_module_that_is_missing() -> None:
    doc = "| `service/` | use cases: `access` |\n| `config.py` | settings |"
    rows = table_rows(doc)
    assert is_named("service/access.py", doc, rows) and is_named("config.py", doc, rows)
    assert not is_named("service/tenants.py", doc, rows)
    assert not is_named("api/filters.py", doc, rows)
