"""What a user installing or citing dormant relies on: one version everywhere (with the
commit from a checkout), the license and its third-party notice shipped, a citation file."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
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
    from_checkout = Path(dormant.__file__).resolve().is_relative_to(ROOT / "src")  # not an installed wheel
    if from_checkout and (ROOT / ".git").exists() and shutil.which("git"):
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
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


PACKAGE_DATA = {"README.md", "THIRD_PARTY_NOTICES.md", "drqv2_curves.csv.gz", "backgrounds/shapes.mp4"}


@pytest.mark.slow
def test_the_built_wheel_installs_into_a_fresh_venv_and_trains(tmp_path):
    """What a user gets from `pip install dormant`: the sdist and wheel build and pass
    `twine check`, the wheel carries the package data and licenses, and installed (not
    editable) in a fresh virtualenv, with the tested versions, its CLI answers and trains."""
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = dist.glob("*.whl")
    subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.iterdir())],
        check=True,
        capture_output=True,
        timeout=300,
    )
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"dormant/data/{name}" for name in PACKAGE_DATA} <= set(names), sorted(names)
    assert any(n.endswith("licenses/LICENSE") for n in names) and any(
        n.endswith("licenses/src/dormant/data/THIRD_PARTY_NOTICES.md") for n in names
    )
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    install = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "-c", str(ROOT / "constraints.txt"), str(wheel)],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert install.returncode == 0, install.stderr[-3000:]

    def run(*args):
        out = subprocess.run(
            [str(venv / "bin" / "dormant"), *args],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        assert out.returncode == 0, (args, out.stderr[-3000:])
        return out.stdout

    assert run("--version") == f"dormant {RELEASE}\n"  # an installed copy: the release, no commit
    assert "dmc/cartpole_balance" in run("tasks")
    assert "task: dmc/cartpole_balance" in run("config", "task=dmc/cartpole_balance", "obs=states")
    run(
        "train",
        "agent=drqv2",
        "task=dmc/cartpole_balance",
        "obs=states",
        "frames=1200",
        "num_seed_frames=1000",
        "agent.hidden_dim=32",
        "eval.episodes=1",
        "eval.every_frames=100000",
        "log.progress=false",
        "threads=1",
        f"out={work / 'run'}",
    )
    assert json.loads((work / "run" / "status.json").read_text())["status"] == "finished"
    where = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import dormant, importlib.resources as r; "
            "print(dormant.__file__); print(r.files('dormant.data').joinpath('drqv2_curves.csv.gz')"
            ".read_bytes()[:2].hex())",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    file, magic = where.stdout.split()
    assert file.startswith(str(venv)) and magic == "1f8b"  # the installed copy, and its gzip data
