"""Checked readers of a run directory's text files: the CSV logs, status.json, config.yaml.

Every reader either returns what the file says or raises ``RunFileError`` naming the file
(and the line, for a log) and what is wrong, so that `dormant plot`, `dormant report`
and ``dormant.load_logs`` never show a traceback nor use a damaged file without a word.
The one thing forgiven is what a kill leaves: a log whose last row was cut mid-write
(no line end) is read without that row, and the note saying so goes to ``notes``.

What the checks catch: bytes that are not text, a row with too few or too many cells, a
cell that is not a number where one is due, a column missing, frames that are not
whole, non-negative and non-decreasing, a status.json or config.yaml that does not
parse or whose fields have the wrong type, a config.yaml whose checksum line (written
with it, ``CHECKSUM_PREFIX``) does not match its content. A changed digit that still
reads as a number in a log cannot be told from a real value (the logs carry no
checksum; the checkpoint does, see training/checkpoint.py).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from dormant.errors import ConfigError

TEXT_COLUMNS = {"event", "detail"}  # events.csv's words; every other column of a log holds numbers
REQUIRED = {
    "train.csv": ("frame",),
    "eval.csv": ("frame", "episode_reward"),
    "diagnostics.csv": ("frame",),
    "events.csv": ("frame", "event"),
}
_NAME = re.compile(r"^[A-Za-z0-9_./@\-]+$")  # @: a continual run's episode_reward@<task>
STATUS_WORDS = {"finished", "interrupted", "failed", "nonfinite", "write_failed"}
# status.json's fields and their types (the trainer writes them; other fields are allowed but must be JSON)
STATUS_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,),
    "frame": (int,),
    "step": (int,),
    "total_frames": (int,),
    "episodes": (int,),
    "elapsed_s": (int, float),
    "stop_reason": (str,),
    "logs": (dict,),
}
STATUS_DIGEST = "sha256"
CHECKSUM_PREFIX = "# sha256 of the lines above (dormant checks it; delete this line after editing by hand): "


class RunFileError(ConfigError):
    """A file of a run directory cannot be used; the message names it, the line where it
    matters, and what is wrong."""


LOGS = ("train.csv", "eval.csv", "diagnostics.csv", "events.csv")


def log_digests(run_dir: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of each log as it is now (status.json keeps them when a run finishes
    or is interrupted, so readers can verify the logs' bytes)."""
    out = {}
    for name in LOGS:
        try:
            raw = (Path(run_dir) / name).read_bytes()
        except FileNotFoundError:
            continue
        out[name] = {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    return out


def read_log(
    path: Path, *, text: bool = False, notes: list[str] | None = None, status: dict[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """A CSV log's columns: float arrays (NaN where a cell is empty), and with ``text=True``
    the text columns (events' ``event``, ``detail``) as arrays of ``str``. A missing file
    gives ``{}``; a partial last row (a kill mid-write) is dropped with a note in ``notes``;
    anything else wrong raises ``RunFileError`` naming the file and line. ``status`` (the
    run's checked status.json): where it records the log's size and SHA-256, the log's
    first that many bytes must match them (rows a resumed run added later are checked as
    text only)."""
    path = Path(path)
    recorded = ((status or {}).get("logs") or {}).get(path.name)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if recorded:
            raise RunFileError(
                f"{path} is missing, but {path.parent / 'status.json'} records it ({recorded['bytes']} bytes)"
            ) from None
        return {}
    except OSError as err:
        raise RunFileError(f"{path}: cannot read it ({err.strerror or err})") from None
    if recorded:
        size = recorded["bytes"]
        if len(raw) < size or hashlib.sha256(raw[:size]).hexdigest() != recorded["sha256"]:
            what = (
                f"shorter ({len(raw)} bytes) than the {size} bytes"
                if len(raw) < size
                else f"its first {size} bytes do not match the SHA-256"
            )
            raise RunFileError(f"{path} is damaged: {what} recorded in status.json when the run last stopped")
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RunFileError(f"{path}, line {line}: bytes that are not text (damaged file?)") from None
    if not content:
        raise RunFileError(f"{path} is empty: not even a header (damaged file?)")
    if not content.endswith("\n"):
        cut = content.rfind("\n") + 1
        if cut == 0:
            raise RunFileError(f"{path}: its header line was cut (no line end; damaged or cut while written)")
        if notes is not None:
            line = content.count("\n") + 1
            notes.append(
                f"{path}: its last row (line {line}) was cut while being written (a killed run leaves "
                "that); it is left out"
            )
        content = content[:cut]
    try:
        rows = list(csv.reader(io.StringIO(content, newline=""), strict=True))
    except csv.Error as err:
        raise RunFileError(f"{path}: not a well-formed CSV ({err}; damaged file?)") from None
    header, body = rows[0], rows[1:]
    bad = [name for name in header if not _NAME.match(name)]
    if bad or len(set(header)) != len(header):
        what = f"column name {bad[0]!r} is not one a log has" if bad else "a column name appears twice"
        raise RunFileError(f"{path}, line 1 (header): {what} (damaged file?)")
    missing = [c for c in REQUIRED.get(path.name, ("frame",)) if c not in header]
    if missing:
        raise RunFileError(f"{path}, line 1 (header): no {missing[0]!r} column (damaged file?)")
    columns: dict[str, list] = {name: [] for name in header}
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise RunFileError(
                f"{path}, line {number}: {len(row)} cells where the header has {len(header)} (damaged file?)"
            )
        for name, cell in zip(header, row, strict=True):
            if name in TEXT_COLUMNS:
                columns[name].append(cell)
                continue
            try:
                value = float(cell) if cell != "" else math.nan
            except ValueError:
                raise RunFileError(
                    f"{path}, line {number}, column {name!r}: {cell[:40]!r} is not a number (damaged file?)"
                ) from None
            if name == "frame" and not (
                math.isfinite(value)
                and value >= 0
                and value == int(value)
                and (not columns[name] or value >= columns[name][-1])
            ):
                raise RunFileError(
                    f"{path}, line {number}: frame {cell!r} is not a whole number of frames at or "
                    "after the previous row's (damaged file?)"
                )
            columns[name].append(value)
    out: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        if name in TEXT_COLUMNS:
            if text:
                out[name] = np.array(values, dtype=str)
        else:
            out[name] = np.array(values, dtype=float)
    return out


def status_text(info: dict[str, Any]) -> str:
    """status.json's text: ``info`` and the SHA-256 of its canonical JSON (``STATUS_DIGEST``)."""
    return json.dumps({**info, STATUS_DIGEST: _status_digest(info)}, indent=2) + "\n"


def json_text(info: dict[str, Any]) -> str:
    """A JSON object's text with the SHA-256 of its canonical form under ``STATUS_DIGEST``
    (environment.json is written so)."""
    return json.dumps({**info, STATUS_DIGEST: _status_digest(info)}, indent=2) + "\n"


def read_checked_json(path: Path) -> dict[str, Any] | None:
    """A JSON object written by ``json_text``: ``None`` if absent; ``RunFileError`` naming the
    file if it does not parse, is not an object, or its SHA-256 field does not match (a
    file written before it had one is taken as it is)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RunFileError(f"{path}: not readable JSON ({err}; damaged file?)") from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: a JSON {type(data).__name__}, not an object (damaged file?)")
    _check_digest(path, data)
    return data


def _check_digest(path: Path, data: dict[str, Any]) -> bool:
    """Pop ``data``'s SHA-256 field and check it against the rest (RunFileError if it does
    not match); False when the file has no such field (written before it had one)."""
    if STATUS_DIGEST not in data:
        return False
    if data.pop(STATUS_DIGEST) != _status_digest(data):
        raise RunFileError(f"{path}: its content does not match its {STATUS_DIGEST} field (damaged file)")
    return True


def _status_digest(info: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()


def read_status(path: Path) -> dict[str, Any] | None:
    """status.json checked: its SHA-256 field matches (a file written before it had one may
    hold only the fields the trainer writes), a known status word, fields of the right
    type (``None`` if there is no such file; ``RunFileError`` if it cannot be used)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise RunFileError(f"{path}: cannot read it ({getattr(err, 'strerror', None) or err}; damaged file?)") from None
    try:
        data = json.loads(text)
    except ValueError as err:
        raise RunFileError(
            f"{path}: not valid JSON ({err}; cut while written or damaged), so how the run ended is unknown"
        ) from None
    if not isinstance(data, dict):
        raise RunFileError(f"{path}: a JSON {type(data).__name__}, not an object (damaged file?)")
    if not _check_digest(path, data):
        unknown = sorted(set(data) - set(STATUS_FIELDS))
        if unknown:
            raise RunFileError(
                f"{path}: field {unknown[0]!r} is not one dormant writes, and the file has no "
                f"{STATUS_DIGEST} field (damaged file?)"
            )
    for key in ("status", "frame"):
        if key not in data:
            raise RunFileError(f"{path}: no {key!r} field (damaged file?)")
    for key, types in STATUS_FIELDS.items():
        if key in data and (not isinstance(data[key], types) or isinstance(data[key], bool)):
            raise RunFileError(
                f"{path}: field {key!r} is {data[key]!r}, not {' or '.join(t.__name__ for t in types)} (damaged file?)"
            )
    if data["status"] not in STATUS_WORDS:
        raise RunFileError(
            f"{path}: status {data['status']!r} is not one dormant writes "
            f"({', '.join(sorted(STATUS_WORDS))}; damaged file?)"
        )
    for name, entry in (data.get("logs") or {}).items():
        if (
            name not in LOGS
            or not isinstance(entry, dict)
            or not isinstance(entry.get("bytes"), int)
            or not isinstance(entry.get("sha256"), str)
        ):
            raise RunFileError(f"{path}: its record of the logs is malformed at {name!r} (damaged file?)")
    if data["frame"] < 0:
        raise RunFileError(f"{path}: frame {data['frame']} is negative (damaged file?)")
    return data


def config_text(yaml_text: str) -> str:
    """A config.yaml's text followed by its checksum line (what the trainer writes)."""
    return yaml_text + CHECKSUM_PREFIX + hashlib.sha256(yaml_text.encode()).hexdigest() + "\n"


def read_run_config(run_dir: Path) -> dict[str, Any] | None:
    """config.yaml checked: its checksum line (if it has one) matches, it is a YAML mapping,
    and ``task``, ``seed``, ``frames`` and ``agent.name`` have the right types (``None`` if
    there is no config.yaml; ``RunFileError`` if it cannot be used)."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise RunFileError(f"{path}: cannot read it ({err.strerror or err})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise RunFileError(f"{path}, line {line}: bytes that are not text (damaged file?)") from None
    body, _, last = text.rstrip("\n").rpartition("\n")
    if last.startswith(CHECKSUM_PREFIX):
        body += "\n"
        if hashlib.sha256(body.encode()).hexdigest() != last[len(CHECKSUM_PREFIX) :].strip():
            raise RunFileError(
                f"{path}: its content does not match its checksum line (damaged, or edited by hand: "
                "if you edited it, delete that last line)"
            )
        text = body
    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # safe; C when available
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f", line {where.line + 1}" if where is not None else ""
        raise RunFileError(f"{path}{at}: not valid YAML (damaged file?)") from None
    if not isinstance(data, dict):
        raise RunFileError(
            f"{path}: {'empty' if data is None else 'plain text, not a mapping of options'} "
            "(not a run's config.yaml, or damaged)"
        )
    agent = data.get("agent")
    checks = [
        ("task", data.get("task"), str),
        ("seed", data.get("seed"), int),
        ("frames", data.get("frames"), int),
        ("agent.name", agent.get("name") if isinstance(agent, dict) else None, str),
    ]
    for key, value, kind in checks:
        if not isinstance(value, kind) or isinstance(value, bool) or value in ("",):
            raise RunFileError(
                f"{path}: {key} is {value!r}, not a {'string' if kind is str else 'whole number'} "
                "(not a run's config.yaml, or damaged)"
            )
    return data
