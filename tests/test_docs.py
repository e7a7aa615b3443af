"""Every Python code block in README.md and docs/ runs, so the docs cannot rot.

Each ```python block is a complete program; it runs in a subprocess from the repository
root and must exit 0.  (Shell blocks name commands that CI itself runs: make test.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, int, str]]:
    found = []
    for path in DOCS:
        text = path.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", line, match.group(1)))
    return found


def test_docs_have_code_blocks() -> None:
    assert len(_blocks()) >= 3


@pytest.mark.timeout(90)
@pytest.mark.parametrize(("where", "line", "code"), _blocks(), ids=[b[0] for b in _blocks()])
def test_code_block_runs(where: str, line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code)
    result = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True,
                            text=True, timeout=80)
    assert result.returncode == 0, f"{where} failed:\n{result.stdout}\n{result.stderr}"
