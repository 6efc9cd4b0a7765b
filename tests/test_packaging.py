"""What a user installing or citing dormant relies on: one version everywhere (with the
commit from a checkout), the license and its third-party notice shipped, a citation file."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

import dormant
from dormant.version import RELEASE, version

ROOT = Path(__file__).resolve().parents[1]
VERSION_PATTERN = r"0\.1\.0(\+g[0-9a-f]{12}(\.dirty)?)?"


def test_one_version_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == RELEASE
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(citation["version"]) == RELEASE
    assert f"## [{RELEASE}]" in (ROOT / "CHANGELOG.md").read_text()
    assert re.fullmatch(VERSION_PATTERN, dormant.__version__) and dormant.__version__ == version()


def test_cli_version_names_the_commit_from_a_checkout():
    out = subprocess.run([sys.executable, "-m", "dormant", "--version"], capture_output=True, text=True, check=True)
    assert re.fullmatch(rf"dormant {VERSION_PATTERN}\n", out.stdout)
    if (ROOT / ".git").exists() and shutil.which("git"):
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        assert f"+g{head}" in out.stdout


def test_an_installed_copy_reports_the_release_alone(tmp_path):
    package = tmp_path / "site-packages" / "dormant"  # no .git and no pyproject.toml two levels up
    package.mkdir(parents=True)
    shutil.copy(ROOT / "src" / "dormant" / "version.py", package / "version.py")
    spec = importlib.util.spec_from_file_location("installed_version", package / "version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.checkout_commit() == ("", False) and module.version() == RELEASE


def test_license_and_notice_travel_with_the_package():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    notice = ROOT / "src" / "dormant" / "data" / "THIRD_PARTY_NOTICES.md"
    assert str(notice.relative_to(ROOT)) in project["project"]["license-files"]
    assert "data/THIRD_PARTY_NOTICES.md" in project["tool"]["setuptools"]["package-data"]["dormant"]
    text = notice.read_text()
    assert "facebookresearch/drqv2" in text and "Copyright (c) Facebook, Inc. and its affiliates." in text
    # every packaged data file that is not ours is named in the notice
    assert "drqv2_curves.csv.gz" in text


def test_citation_file_has_what_cff_requires():
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors", "type", "license", "date-released"):
        assert citation[key], key
    assert all(ref["title"] and ref["authors"] and ref["year"] for ref in citation["references"])
