"""The docs site (mkdocs.yml) builds with ``mkdocs build --strict``: no broken links, no
docstring the API reference cannot render.  A second build with one broken link must fail,
so the strict checks are known to be on."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# mkdocs-material prints a banner about MkDocs 2.0 on every build; it is not a warning.
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _build(config: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
        cwd=config.parent, capture_output=True, text=True, timeout=60, env=ENV)


@pytest.mark.timeout(90)
def test_site_builds_strict_with_api_reference(tmp_path: Path) -> None:
    result = _build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    site = tmp_path / "site"
    for page in ("", "porting/", "api/", "quickstart/", "reference/engine/", "reference/streams/",
                 "reference/sources/", "reference/errors/", "reference/tokens/",
                 "reference/server/"):
        assert (site / page / "index.html").is_file(), page
    engine = (site / "reference/engine/index.html").read_text()
    # rendered from ZegoExpressEngine.loginRoom's docstring, under its own anchor
    assert 'id="zego_py.ZegoExpressEngine.loginRoom"' in engine
    assert "Join a room; resolves True, or raises ZegoError" in engine
    assert 'id="zego_py.ZegoExpressEngine.stopPlayingStream"' in engine
    assert 'id="zego_py.unsupported.ZegoUnsupportedCalls.sendSEI"' in engine  # by name only
    server = (site / "reference/server/index.html").read_text()
    assert "Run a room server in this event loop" in server
    assert 'id="mock_server.ServerConfig"' in server
    porting = (site / "porting/index.html").read_text()
    assert porting.count('class="grid"') >= 7  # the JavaScript and Python columns, per step


@pytest.mark.timeout(90)
def test_strict_build_fails_on_a_broken_link(tmp_path: Path) -> None:
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", copy / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", copy / "docs")
    for package in ("zego_py", "mock_server"):
        (copy / package).symlink_to(ROOT / package)
    index = copy / "docs" / "index.md"
    index.write_text(index.read_text() + "\n[gone](no-such-page.md)\n")
    result = _build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr, result.stderr
