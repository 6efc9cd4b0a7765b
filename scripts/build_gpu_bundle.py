#!/usr/bin/env python
"""Build ``gpu_bundle/``: what a bare GPU machine with no network needs to run the DMC suite.

The target machine has Python 3.12 and torch but no MuJoCo or dm_control, and at most
64 MiB of files may be brought along (the project's tracked files included). dm_control's
wheel alone is ~56 MB, nearly all of it locomotion/soccer meshes and the dog's textures,
which ``dm_control.suite`` (but the dog domain) and ``dm_control.mujoco`` never load. So this
script downloads the pinned wheels (versions read from ``constraints.txt``) and rewrites
dm_control's as a trimmed wheel with a correct ``RECORD``.

    python scripts/build_gpu_bundle.py               # download (if absent) and trim
    python scripts/build_gpu_bundle.py --dry-run     # list each file in MiB and the total; no download
    python scripts/build_gpu_bundle.py --python-version 3.11   # a cp311 bundle, to test it here
    python scripts/build_gpu_bundle.py --gl-debs     # also the GL loader .debs (apt-get download)

The trimmed wheel keeps every suite domain's model files except ``dog_assets`` (the dog
domain imports, but cannot build its model).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MIB = 64.0
MIB = 2**20
# What the suite's import path needs and the GPU machine lacks (checked by importing
# dm_control.suite from a bundle-only install, see docs/benchmarks.md).
PACKAGES = ["mujoco", "dm-env", "dm-tree", "PyOpenGL", "dm_control"]
# dm-tree's own requirements, absent there: tree imports both at import time.
EXTRA_PACKAGES = ["attrs", "wrapt"]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
GL_DEBS = ["libegl1", "libglvnd0", "libopengl0", "libgl1", "libglx0", "libgles2"]
# Paths of the dm_control wheel left out: never loaded by dm_control.suite/mujoco/rl.
TRIM_PATTERNS = [
    r"^dm_control/locomotion/",
    r"^dm_control/manipulation/",
    r"^dm_control/blender/",
    r"^dm_control/suite/dog_assets/",
    r"^dm_control/mujoco/testing/",
    r"^dm_control/mjcf/test_assets/",
    r"^dm_control/third_party/",
    r"^dm_control/.*_test\.py$",
    r"^dm_control/suite/all_domains\.png$",
    r"^dm_control/.*\.png$",
]


def pins(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """Normalised package name → pinned version."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            out[normalise(name)] = version.strip()
    return out


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def keep(name: str) -> bool:
    """Whether a dm_control wheel member stays in the trimmed wheel."""
    return not any(re.search(p, name) for p in TRIM_PATTERNS)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def trim_wheel(src: Path, dst: Path) -> tuple[int, int]:
    """Write ``dst``: ``src`` without the trimmed members, RECORD rewritten. Returns (kept, dropped)."""
    kept = dropped = 0
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst.with_suffix(".tmp"), "w", zipfile.ZIP_DEFLATED) as zout:
        record_name = next(n for n in zin.namelist() if n.endswith(".dist-info/RECORD"))
        rows = []
        for info in zin.infolist():
            if info.filename == record_name or info.is_dir():
                continue
            if not keep(info.filename):
                dropped += 1
                continue
            data = zin.read(info)
            zout.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            rows.append(f"{info.filename},{_record_hash(data)},{len(data)}")
            kept += 1
        rows.append(f"{record_name},,")
        zout.writestr(record_name, "\n".join(rows) + "\n")
    dst.with_suffix(".tmp").replace(dst)
    return kept, dropped


def listing(bundle: Path, root: Path = ROOT) -> dict:
    """Each bundle file with its size in MiB, the project's tracked files, the total and the margin."""
    files = (
        sorted(p for p in bundle.rglob("*") if p.is_file() and not p.name.endswith(".tmp")) if bundle.is_dir() else []
    )
    rows = [(str(p.relative_to(bundle.parent)), p.stat().st_size / MIB) for p in files]
    tracked = _tracked_mib(root)
    total = sum(size for _, size in rows) + tracked
    return {
        "files": rows,
        "bundle_mib": sum(size for _, size in rows),
        "project_tracked_mib": tracked,
        "total_mib": total,
        "budget_mib": BUDGET_MIB,
        "margin_mib": BUDGET_MIB - total,
    }


# Where there is no git (a copied tree), these ignored folders are left out of the count.
NOT_CARRIED = {".git", ".venv", "gpu_bundle", "runs", "build", "site", "__pycache__", ".pytest_cache"}


def _tracked_mib(root: Path) -> float:
    """The git-tracked and untracked-but-not-ignored files: what travels with the working tree."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
        ).stdout.decode()
        names = [root / n for n in out.split("\0") if n]
    except (OSError, subprocess.CalledProcessError):  # not a checkout: every file but the ignored folders
        if not (root / "pyproject.toml").exists():
            return 0.0
        names = [p for p in root.rglob("*") if not NOT_CARRIED & set(p.relative_to(root).parts)]
    return sum(p.stat().st_size for p in names if p.is_file() and not p.is_symlink()) / MIB


def format_listing(info: dict) -> str:
    lines = [f"{size:9.3f} MiB  {name}" for name, size in info["files"]]
    lines += [
        f"{info['bundle_mib']:9.3f} MiB  bundle total",
        f"{info['project_tracked_mib']:9.3f} MiB  project files (git ls-files -co --exclude-standard)",
        f"{info['total_mib']:9.3f} MiB  total brought along (budget {info['budget_mib']:.0f} MiB, "
        f"margin {info['margin_mib']:.3f} MiB)",
    ]
    return "\n".join(lines)


def download(names: list[str], versions: dict[str, str], dest: Path, python_version: str) -> None:
    tag = "cp" + python_version.replace(".", "")
    todo = []
    for name in names:
        version = versions[normalise(name)]
        stem = normalise(name).replace("-", "_")
        if not any(f.name.lower().startswith(f"{stem}-{version}-") for f in dest.glob("*.whl")):
            todo.append(f"{name}=={version}")
    if not todo:
        return
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        tag,
        "--abi",
        "abi3",
        "--abi",
        "none",
        *[a for p in PLATFORMS for a in ("--platform", p)],
        "-d",
        str(dest),
        *todo,
    ]
    subprocess.run(cmd, check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "gpu_bundle", help="bundle folder (git-ignored)")
    parser.add_argument("--python-version", default="3.12", help="the target's Python (default 3.12)")
    parser.add_argument("--dry-run", action="store_true", help="list what would be brought along; no download")
    parser.add_argument("--gl-debs", action="store_true", help="also apt-get download the GL loader .debs")
    args = parser.parse_args(argv)
    wheels, raw = args.out / "wheels", ROOT / "build" / "gpu_bundle_raw"  # raw: not carried
    if not args.dry_run:
        versions = pins()
        wheels.mkdir(parents=True, exist_ok=True)
        raw.mkdir(parents=True, exist_ok=True)
        download([p for p in PACKAGES + EXTRA_PACKAGES if p != "dm_control"], versions, wheels, args.python_version)
        download(["dm_control"], versions, raw, args.python_version)
        src = next(raw.glob(f"dm_control-{versions['dm-control']}-*.whl"))
        kept, dropped = trim_wheel(src, wheels / src.name)
        print(f"trimmed {src.name}: kept {kept} files, dropped {dropped}", file=sys.stderr)
        if args.gl_debs:
            gl = args.out / "gl"
            gl.mkdir(exist_ok=True)
            subprocess.run(["apt-get", "download", *[f"{d}:amd64" for d in GL_DEBS]], cwd=gl, check=True)
    info = listing(args.out)
    print(format_listing(info))
    return 0 if info["margin_mib"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
