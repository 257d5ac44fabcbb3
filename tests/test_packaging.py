"""Package metadata: one version, a long description that renders off the repository."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

import gepakit

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    # pyright checks for Python 3.10 (pythonVersion) in a 3.11 venv, which has no tomli.
    import tomli as tomllib  # pyright: ignore[reportMissingImports]

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
RELATIVE_LINK = re.compile(r"\]\((?!https?://|#|mailto:)[^)\s]+\)")


def test_version_has_one_source() -> None:
    project = PYPROJECT["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert PYPROJECT["tool"]["hatch"]["version"]["path"] == "src/gepakit/__init__.py"
    assert re.fullmatch(r"\d+\.\d+\.\d+([ab]\d+|rc\d+)?", gepakit.__version__)


def test_release_metadata_is_complete() -> None:
    project = PYPROJECT["project"]
    assert project["authors"] and project["license"]
    assert {"Homepage", "Source", "Issues", "Changelog"} <= set(project["urls"])
    classifiers = project["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Programming Language :: Python :: 3.1") for c in classifiers)
    assert {"build", "twine"} <= {
        re.split(r"[<>=]", d)[0] for d in project["optional-dependencies"]["dev"]
    }


def long_description() -> str:
    """README.md after the readme hook's substitutions (what PyPI shows)."""
    hook = PYPROJECT["tool"]["hatch"]["metadata"]["hooks"]["fancy-pypi-readme"]
    text = "".join((ROOT / f["path"]).read_text(encoding="utf-8") for f in hook["fragments"])
    for sub in hook["substitutions"]:
        text = re.sub(sub["pattern"], sub["replacement"], text)
    return text


def test_long_description_has_no_relative_links() -> None:
    text = long_description()
    assert not RELATIVE_LINK.findall(text)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if re.search(r"!\[[^\]]*\]\((?!https?://)", readme):  # a relative image: made absolute
        assert "https://raw.githubusercontent.com/" in text
    if RELATIVE_LINK.search(readme):  # relative links: made absolute
        assert "https://github.com/gepakit/gepakit/blob/main/" in text


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("![shot](docs/report.png)", "(https://raw.githubusercontent.com/"),
        ("[guide](docs/guide.md)", "(https://github.com/"),
        ("[site](https://example.org/x)", "(https://example.org/x)"),
        ("[below](#usage)", "(#usage)"),
    ],
)
def test_substitutions(markdown: str, expected: str) -> None:
    hook = PYPROJECT["tool"]["hatch"]["metadata"]["hooks"]["fancy-pypi-readme"]
    text = markdown
    for sub in hook["substitutions"]:
        text = re.sub(sub["pattern"], sub["replacement"], text)
    assert expected in text
