"""pyproject.toml declares the same pinned dependencies that requirements.txt installs."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent


def pins(lines) -> dict[str, str]:
    requirements = [Requirement(line) for line in lines]
    return {
        canonicalize_name(r.name): f"{sorted(r.extras)}{r.specifier}{r.marker or ''}"
        for r in requirements
    }


def test_pyproject_and_requirements_pin_the_same_packages():
    text = (ROOT / "requirements.txt").read_text().splitlines()
    listed = pins(line.split("#")[0].strip() for line in text if line.split("#")[0].strip())
    declared = pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert declared == listed
    assert all(spec.split("]")[1].startswith("==") for spec in listed.values())
