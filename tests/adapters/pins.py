"""The series pyproject.toml pins an adapted library to, held against the version installed.

The pin is read from pyproject.toml itself, so that a test and the pin can
never name two different series.
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def pinned_series(distribution: str) -> SpecifierSet:
    """The `~=X.Y.Z` pyproject.toml gives `distribution`: X.Y.Z or any later X.Y.* release."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) == canonicalize_name(distribution):
            specifiers = list(requirement.specifier)
            assert (
                len(specifiers) == 1
                and specifiers[0].operator == "~="
                and specifiers[0].version.count(".") == 2
            ), f"pyproject.toml must pin {distribution} to one series (~=X.Y.Z), not {line!r}"
            return requirement.specifier
    raise AssertionError(f"pyproject.toml does not list {distribution} in its dependencies")


def assert_installed_in_pinned_series(distribution: str, adapter: str) -> None:
    """Fail, naming the adapter to re-check, when the installed release is outside the pin."""
    installed = importlib.metadata.version(distribution)
    series = pinned_series(distribution)
    assert series.contains(installed, prereleases=True), (
        f"{distribution} {installed} is installed, but {adapter} was checked against "
        f"{distribution}{series}: re-check every name its docstring lists, run "
        f"tests/adapters/, then move the pin in pyproject.toml"
    )
