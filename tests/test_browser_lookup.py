"""How the browser tests find Chromium, tested without one: the CHROMIUM variable wins, an
unusable one is named, else `chromium` on PATH, else the reason to skip (or fail in CI)."""

import pytest

from tests.e2e.conftest import find_chromium


@pytest.fixture
def bin_dir(tmp_path):
    """A directory holding an executable `chromium` and a plain file `notes`."""
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    (tmp_path / "notes").write_text("")
    return tmp_path


@pytest.mark.parametrize(
    ("chromium", "path", "found", "why"),
    [
        ("{bin}/chromium", "", "{bin}/chromium", ""),
        ("{bin}/missing", "{bin}", None, "CHROMIUM={bin}/missing is not an executable file"),
        ("{bin}/notes", "{bin}", None, "CHROMIUM={bin}/notes is not an executable file"),
        (None, "{bin}", "{bin}/chromium", ""),
        (None, "{bin}/empty", None, "Chromium is not installed (no `chromium` on PATH"),
    ],
)
def test_find_chromium(monkeypatch, bin_dir, chromium, path, found, why):
    def fill(text):
        return text.format(bin=bin_dir)

    if chromium is None:
        monkeypatch.delenv("CHROMIUM", raising=False)
    else:
        monkeypatch.setenv("CHROMIUM", fill(chromium))
    monkeypatch.setenv("PATH", fill(path))
    path_found, reason = find_chromium()
    assert path_found == (fill(found) if found else None)
    assert reason.startswith(fill(why)) and bool(reason) == (found is None)
