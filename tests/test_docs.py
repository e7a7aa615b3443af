"""Every Python code block in README.md and docs/ runs, so the docs cannot rot.

Each ```python block is a complete program; it runs in a subprocess from the repository
root and must exit 0.  A ```py block is an excerpt shown beside other code (as on
docs/porting.md): it must appear verbatim, up to indentation, in one of the same page's
```python programs, so it runs as part of that program.  (Shell blocks name commands that
CI itself runs: make test.)
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
# ```py, optionally with attributes such as title="zego_py"
EXCERPT = re.compile(r"^```py(?: [^\n]*)?\n(.*?)^```", re.S | re.M)


def _found(pattern: re.Pattern[str]) -> list[tuple[str, str, str]]:
    """(path:line, code, the page's text) for every block the pattern matches."""
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", match.group(1), text))
    return found


def _blocks() -> list[tuple[str, int, str]]:
    return [(where, int(where.rsplit(":", 1)[1]), code) for where, code, _ in _found(BLOCK)]


def _is_excerpt(excerpt: str, program: str) -> bool:
    """True if the excerpt's lines are consecutive lines of the program, same relative indent."""
    want = textwrap.dedent(excerpt).splitlines()
    have = program.splitlines()
    stripped = [line.strip() for line in have]
    for start in range(len(have) - len(want) + 1):
        if stripped[start:start + len(want)] == [line.strip() for line in want]:
            if textwrap.dedent("\n".join(have[start:start + len(want)])).splitlines() == want:
                return True
    return False


def test_docs_have_code_blocks() -> None:
    assert len(_blocks()) >= 3
    assert any(where.startswith("docs/porting.md") for where, _, _ in _found(EXCERPT))


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("where", "line", "code"), _blocks(), ids=[b[0] for b in _blocks()])
def test_code_block_runs(where: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                            text=True, timeout=80)
    assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(("where", "code", "page"), _found(EXCERPT),
                         ids=[e[0] for e in _found(EXCERPT)])
def test_excerpt_is_part_of_a_program(where: str, code: str, page: str) -> None:
    programs = [match.group(1) for match in BLOCK.finditer(page)]
    assert any(_is_excerpt(code, program) for program in programs), (
        f"{where}: this ```py excerpt is not a verbatim part of any ```python program on its page")


def test_excerpt_check_catches_a_changed_line() -> None:
    program = "def f():\n    if x:\n        y = 1\n    return y\n"
    assert _is_excerpt("if x:\n    y = 1\n", program)
    assert not _is_excerpt("if x:\n    y = 2\n", program)
    assert not _is_excerpt("if x:\ny = 1\n", program)
