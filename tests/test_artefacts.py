"""Damaged, cut and odd run artefacts, and loose API input, generated (issue 26, classes 1, 2, 5).

Each generator makes many members of one class from one tiny state run (made once for the
module) and sorts every outcome: ``refused`` (an error naming the file, or a ConfigError
before anything is created), ``verified`` (exactly the original content came back),
``silent`` (other content came back without a word) or ``crash`` (a traceback-worthy
exception). The tests require every case refused or verified; the generators are plain
functions, so the same cases can be counted against another version of the code.

Counted against the code before this file (commit d56f89e, its own tiny run; case counts
differ by a few where a run's rows differ in length) → now, handled = refused or verified:
class 1 checkpoint 20/175 → 175/175 (155 loaded other weights silently), class 1 text
files 1/280 → 280/280, class 2 cut rows 0/676 → 678/678, class 2 bad cells, status and
config 4/196 → 196/196, class 2 duplicates and places 0/7 → 7/7, class 5 API inputs
224/470 → 470/470 (before: 51 accepted, 48 crashed, 147 refused in other words or after
the run directory existed).
"""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import dormant
from dormant.errors import ConfigError
from dormant.training.checkpoint import CheckpointError, load_checkpoint

TINY = dict(
    agent="drqv2",
    task="dmc/cartpole_balance",
    obs="states",
    frames=1200,
    agent__hidden_dim=32,
    agent__feature_dim=8,
    agent__batch_size=32,
    num_seed_frames=1000,
    agent__num_expl_steps=200,
    eval__episodes=1,
    eval__every_frames=1000,
    log__progress=False,
    log__tensorboard=False,
    threads=1,
    log__diagnostics_every_updates=50,
    plasticity__redo=True,
    plasticity__redo_every_updates=50,
)
LOGS = ("train.csv", "eval.csv", "diagnostics.csv", "events.csv")
OTHER_FILES = ("config.yaml", "status.json", *LOGS)
DEBUG: list = []  # the cases not refused nor verified, for reading when a test fails


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A finished run with all four logs (a ReDo reset writes events.csv) and a checkpoint with replay."""
    out = tmp_path_factory.mktemp("artefacts") / "run"
    dormant.train(out=str(out), **TINY)
    return out


# --- comparisons -----------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal content: tensors by dtype, shape and bytes; NaN equal to NaN."""
    import torch

    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return (
            isinstance(a, torch.Tensor)
            and isinstance(b, torch.Tensor)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and torch.equal(
                a.view(-1).view(torch.uint8) if a.numel() else a, b.view(-1).view(torch.uint8) if b.numel() else b
            )
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
            return False
        return bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def logs_of(run_dir: Path, logs: Any = None) -> dict[str, Any]:
    logs = dormant.load_logs(run_dir) if logs is None else logs
    status = {k: v for k, v in logs.status.items() if k not in ("sha256", "logs")}
    return {
        "config": logs.config,
        "status": status,
        "train": logs.train,
        "eval": logs.eval,
        "diagnostics": logs.diagnostics,
        "events": logs.events,
    }


def outcome(load: Callable[[], Any], original: Any, names: str, errors: tuple = (ConfigError,)) -> str:
    try:
        got = load()
    except errors as err:
        return "refused" if names in str(err) else "crash"
    except Exception:
        return "crash"
    return "verified" if same(got, original) else "silent"


def flip(data: bytearray, start: int, end: int, rng: random.Random) -> None:
    """XOR a random byte range inside [start, end) with non-zero values (every byte changes)."""
    length = min(rng.choice((1, 2, 3, 8, 32, 100, 300)), end - start)
    at = rng.randrange(start, end - length + 1)
    for i in range(at, at + length):
        data[i] ^= rng.randrange(1, 256)


# --- class 1: damaged bytes --------------------------------------------------------------


def checkpoint_damage(run_dir: Path, work: Path, *, per_member: int = 1, anywhere: int = 40, seed: int = 0) -> Counter:
    """Flip byte ranges inside every record of checkpoint.pt (each tensor, its pickle,
    torch's own records) and anywhere in the file; every load must refuse or give the
    original content back."""
    rng = random.Random(seed)
    original_bytes = (run_dir / "checkpoint.pt").read_bytes()
    original = load_checkpoint(run_dir / "checkpoint.pt")
    path = work / "checkpoint.pt"
    regions = []
    with zipfile.ZipFile(run_dir / "checkpoint.pt") as archive:
        for info in archive.infolist():
            header = original_bytes[info.header_offset : info.header_offset + 30]
            start = (
                info.header_offset
                + 30
                + int.from_bytes(header[26:28], "little")
                + int.from_bytes(header[28:30], "little")
            )
            if info.file_size:
                regions.append((start, start + info.file_size))
    regions += [(0, len(original_bytes))] * (anywhere // per_member)
    counts: Counter = Counter()
    for start, end in regions:
        for _ in range(per_member):
            data = bytearray(original_bytes)
            flip(data, start, end, rng)
            path.write_bytes(bytes(data))
            counts[outcome(lambda: load_checkpoint(path), original, str(path), (CheckpointError, ConfigError))] += 1
    return counts


def text_file_damage(run_dir: Path, work: Path, *, per_file: int = 40, seed: int = 1) -> Counter:
    """Flip byte ranges in config.yaml, status.json and each log of a finished run; reading
    the run (``dormant.load_logs``, what report and plot read too) must refuse naming the
    file or give the original content back."""
    rng = random.Random(seed)
    shutil.copytree(run_dir, work / "copy")
    copy = work / "copy"
    original = logs_of(copy)
    counts: Counter = Counter()
    for name in OTHER_FILES:
        clean = (copy / name).read_bytes()
        for _ in range(per_file):
            data = bytearray(clean)
            flip(data, 0, len(data), rng)
            (copy / name).write_bytes(bytes(data))
            counts[outcome(lambda: logs_of(copy), original, name)] += 1
        (copy / name).write_bytes(clean)
    # environment.json is read by the report only (its Settings: versions and device)
    from dormant.experiments.collect import collect

    def environment() -> Any:
        notes: list[str] = []
        (run,) = collect([copy], notes=notes) if "notes" in collect.__code__.co_varnames else collect([copy])
        if any("environment.json" in note for note in notes):
            raise ConfigError("environment.json: named in the report's notes")
        return run.environment

    env_original = environment()
    clean = (copy / "environment.json").read_bytes()
    for _ in range(per_file):
        data = bytearray(clean)
        flip(data, 0, len(data), rng)
        (copy / "environment.json").write_bytes(bytes(data))
        counts[outcome(environment, env_original, "environment.json")] += 1
    (copy / "environment.json").write_bytes(clean)
    return counts


def test_damaged_checkpoints_are_refused_or_verified(tiny_run, tmp_path):
    counts = checkpoint_damage(tiny_run, tmp_path)
    print(f"class 1 checkpoint: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) <= {"refused", "verified"}, counts
    assert counts["refused"] > 150


def test_damaged_text_files_are_refused_or_verified(tiny_run, tmp_path):
    counts = text_file_damage(tiny_run, tmp_path)
    print(f"class 1 text files: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) <= {"refused", "verified"}, counts


def test_a_damaged_checkpoint_stops_resume_eval_and_load_agent_naming_what_survives(tiny_run, tmp_path, capsys):
    from dormant.cli import main

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    data = bytearray((run / "checkpoint.pt").read_bytes())
    with zipfile.ZipFile(run / "checkpoint.pt") as archive:  # a few hundred bytes inside the largest tensor
        info = max(archive.infolist(), key=lambda i: i.file_size if "/data/" in i.filename else 0)
    middle = info.header_offset + 30 + len(info.filename) + info.file_size // 2
    for i in range(middle, middle + 300):
        data[i] ^= 0x5A
    (run / "checkpoint.pt").write_bytes(bytes(data))
    for argv in (["train", "--resume", str(run), "frames=2400"], ["eval", str(run), "episodes=1"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "is damaged" in err and "eval.csv" in err and "config.yaml" in err, err
    with pytest.raises(CheckpointError, match="is damaged"):
        dormant.load_agent(run)
    assert "frame 2400" not in (run / "eval.csv").read_text()


# --- class 2: reading run directories ----------------------------------------------------


def cut_last_rows(run_dir: Path, work: Path) -> Counter:
    """Each log cut at every byte offset inside its last row (what a kill mid-write leaves,
    so status.json is absent): the run reads as before without that row, with a note."""
    shutil.copytree(run_dir, work / "cut")
    copy = work / "cut"
    (copy / "status.json").unlink()
    counts: Counter = Counter()
    for name in LOGS:
        clean = (copy / name).read_bytes()
        body = clean.rstrip(b"\r\n")
        last = body.rfind(b"\n") + 1
        kept = clean[:last]
        (copy / name).write_bytes(kept)
        expected = logs_of(copy)
        for offset in range(last + 1, len(clean)):  # from its first byte to its "\r" (its "\n" is what ends it)
            (copy / name).write_bytes(clean[:offset])
            try:
                logs = dormant.load_logs(copy)
                got = logs_of(copy, logs)
                noted = any(name in note for note in getattr(logs, "notes", []))
                counts["verified" if same(got, expected) and noted else "silent"] += 1
            except ConfigError as err:
                counts["refused-wrongly" if name in str(err) else "crash"] += 1
            except Exception:
                counts["crash"] += 1
        (copy / name).write_bytes(clean)
    return counts


def bad_cells_and_status(run_dir: Path, work: Path, *, seed: int = 2) -> Counter:
    """Non-numeric cells in each log, status.json with wrong types or cut, config.yaml that is
    not a run's: ``load_logs`` refuses naming the file; the report lists the run as not used."""
    from dormant.experiments.collect import collect

    rng = random.Random(seed)
    shutil.copytree(run_dir, work / "bad")
    copy = work / "bad"
    counts: Counter = Counter()

    def judge(name: str) -> None:
        try:
            logs_of(copy)
            counts["silent"] += 1
            DEBUG.append(("load_logs silent", name, (copy / name).read_text()[-200:]))
        except ConfigError as err:
            counts["refused" if name in str(err) else "crash"] += 1
        except Exception as err:
            counts["crash"] += 1
            DEBUG.append(("load_logs crash", name, repr(err)))
        try:  # the report's reader: the run is left out and its reason names the file
            unusable: list = []
            runs = collect([copy], unusable=unusable) if "unusable" in collect.__code__.co_varnames else collect([copy])
            reasons = " ".join(str(u.reason) for u in unusable)
            counts["refused" if not runs and name in reasons else "silent"] += 1
            if runs or name not in reasons:
                DEBUG.append(("collect silent", name, reasons))
        except ConfigError as err:
            counts["refused" if name in str(err) else "crash"] += 1
        except Exception as err:
            counts["crash"] += 1
            DEBUG.append(("collect crash", name, repr(err)))

    status_clean = (copy / "status.json").read_text()
    for name, killed in ((name, killed) for killed in (False, True) for name in LOGS):
        # killed: no status.json (the logs have no recorded SHA-256): the cells' own checks must catch it
        if killed:
            (copy / "status.json").unlink(missing_ok=True)
        clean = (copy / name).read_bytes()
        lines = clean.decode().splitlines(keepends=True)
        header = lines[0].rstrip("\r\n").split(",")
        numeric = [i for i, col in enumerate(header) if col not in ("event", "detail")]
        for word in ("abc", "1.2.3", "--", "0x1F", "1,5", "nan%", "½"):
            row = rng.randrange(1, len(lines))
            cells = lines[row].rstrip("\r\n").split(",")
            if len(cells) != len(header):
                continue
            cells[rng.choice(numeric)] = f'"{word}"' if "," in word else word
            (copy / name).write_bytes("".join([*lines[:row], ",".join(cells) + "\r\n", *lines[row + 1 :]]).encode())
            judge(name)
        (copy / name).write_bytes(clean)
    (copy / "status.json").write_text(status_clean)
    status = json.loads(status_clean)
    wrong = [
        {**status, "status": 1},
        {**status, "frame": "1200"},
        {**status, "frame": 1.5},
        {**status, "frame": None},
        {**status, "frame": -5},
        {**status, "status": "done"},
        {k: v for k, v in status.items() if k != "frame"},
        [status],
        "finished",
        None,
    ]
    for value in wrong:
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "sha256"}
        (copy / "status.json").write_text(json.dumps(value))
        judge("status.json")
    for cut in sorted({int(c) for c in np.linspace(1, len(status_clean) - 3, 24)}):  # cut while written (a crash)
        (copy / "status.json").write_text(status_clean[:cut])
        judge("status.json")
    (copy / "status.json").write_text(status_clean)
    config_clean = (copy / "config.yaml").read_text()
    for text in (
        "hello world\n",
        "- a\n- b\n",
        "task: 5\nseed: 1\nframes: 10\nagent: {name: drqv2}\n",
        "task: dmc/x\nseed: abc\nframes: 10\nagent: {name: drqv2}\n",
        "agent: drqv2\n",
        "",
        "{{{\n",
        re.sub(r"(?m)^seed: .*$", "seed: 7", config_text_without_checksum(config_clean))
        + config_clean.splitlines(keepends=True)[-1],
    ):
        (copy / "config.yaml").write_text(text)
        judge("config.yaml")
    (copy / "config.yaml").write_text(config_clean)
    return counts


def config_text_without_checksum(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("# sha256"))


def duplicates_and_places(run_dir: Path, work: Path) -> Counter:
    """The same run reached twice (``report D D``, a copy of it, D and its parent), ``out=`` a
    file, a sweep aimed into a run: counted once with a word, or refused."""
    from dormant.experiments.collect import collect

    counts: Counter = Counter()
    parent = work / "dups"
    shutil.copytree(run_dir, parent / "a")
    shutil.copytree(run_dir, parent / "b")
    for paths in (
        [parent / "a", parent / "a"],
        [parent],
        [parent / "a", parent],
        [parent / "a", parent / "b"],
        [parent / "a", Path(str(parent / "a") + "/")],
    ):
        try:
            unusable: list = []
            runs = collect(paths, unusable=unusable) if "unusable" in collect.__code__.co_varnames else collect(paths)
            counted_once = len(runs) == 1
            reaches_b = parent in paths or parent / "b" in paths
            worded = not reaches_b or any("duplicate" in u.reason for u in unusable)
            counts["verified" if counted_once and worded else "silent"] += 1
        except ConfigError:
            counts["refused-wrongly"] += 1
        except Exception:
            counts["crash"] += 1
    from dormant.cli import main

    a_file = work / "a_file"
    a_file.write_text("x")
    code = _quiet(main, ["report", str(parent / "a"), f"out={a_file}"])
    counts["refused" if code == 2 else "crash"] += 1
    code = _quiet(main, ["sweep", f"out={parent / 'a'}", "obs=states", "frames=1200", "num_seed_frames=1000"])
    counts["refused" if code == 2 else "silent"] += 1
    return counts


def _quiet(main: Callable, argv: list[str]) -> int:
    import contextlib
    import io

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return main(argv)
        except SystemExit as exit_:
            return int(exit_.code or 0)
        except Exception:
            return -1


def test_a_log_cut_mid_row_is_read_without_that_row_and_a_note(tiny_run, tmp_path):
    counts = cut_last_rows(tiny_run, tmp_path)
    print(f"class 2 cut rows: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) == {"verified"}, counts
    assert counts["verified"] > 300


def test_bad_cells_status_and_config_are_named_and_listed_as_not_used(tiny_run, tmp_path):
    counts = bad_cells_and_status(tiny_run, tmp_path)
    print(f"class 2 bad cells/status/config: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) == {"refused"}, counts


def test_duplicates_are_counted_once_and_bad_places_refused(tiny_run, tmp_path):
    counts = duplicates_and_places(tiny_run, tmp_path)
    print(f"class 2 duplicates/places: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) <= {"verified", "refused"}, counts


def test_report_lists_what_it_could_not_use_and_fails_when_nothing_is_usable(tiny_run, tmp_path, capsys):
    from dormant.cli import main

    plain = tmp_path / "plain"
    shutil.copytree(tiny_run, plain)
    (plain / "config.yaml").write_text("just some notes, not a configuration\n")
    assert main(["report", str(plain), f"out={tmp_path / 'r1'}", "reps=100"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml" in err and "plain text" in err and "no run could be used" in err, err
    good = tmp_path / "good"
    shutil.copytree(tiny_run, good)
    cut = tmp_path / "cut"
    shutil.copytree(tiny_run, cut)
    (cut / "status.json").write_text((cut / "status.json").read_text()[:40])
    assert main(["report", str(good), str(plain), str(cut), str(good), f"out={tmp_path / 'r2'}", "reps=100"]) == 0
    md = (tmp_path / "r2" / "report.md").read_text()
    assert "1 runs from" in md and "2 run directories not used" in md, md[:2000]
    assert "plain text" in md and "status.json: not valid JSON" in md


def test_load_logs_has_every_column_the_agent_would_log(tiny_run, tmp_path):
    run = tmp_path / "short"  # as a run under log.diagnostics_every_updates without interventions leaves it
    shutil.copytree(tiny_run, run)
    for name in ("diagnostics.csv", "events.csv", "status.json"):
        (run / name).unlink()
    logs = dormant.load_logs(run)
    assert len(logs.events["event"]) == 0 and len(logs.diagnostics["critic_fau"]) == 0
    assert {"actor_dormant_ratio", "critic_grad_norm", "updates"} <= set(logs.diagnostics)
    from dormant.api import expected_columns

    header = (Path(str(tmp_path)) / "short" / "train.csv").read_text().splitlines()[0].split(",")
    assert set(expected_columns("train", logs.config)) <= set(header)


# --- class 5: the Python API as strict as the command line --------------------------------

FLOATS = ("agent.lr", "agent.discount", "agent.critic_target_tau", "drm.threshold", "env.reward_scale")
INTS = ("frames", "seed", "agent.hidden_dim", "agent.batch_size", "eval.episodes", "num_seed_frames")
BAD_FLOATS = (
    math.nan,
    math.inf,
    -math.inf,
    np.float64("nan"),
    np.float32("inf"),
    10**400,
    "nan",
    "1e400",
    [1.0],
    None,
    True,
)
BAD_INTS = (math.nan, math.inf, 1.5, True, "abc", 10**400, None, [1], -1.0e400, np.float64("nan"))


def cli_error(key: str, value: Any) -> str:
    """What `dormant config obs=states KEY=VALUE` prints after ``error: `` (the command's own
    path: parse the strings, resolve; the parser's help text is not built for each case)."""
    from dormant.config import parse_overrides, resolve

    try:
        resolve(parse_overrides(["obs=states", *(["agent=drm"] if key.startswith("drm.") else []), f"{key}={value}"]))
    except ConfigError as err:
        return str(err)
    return "(accepted)"


def api_inputs(work: Path) -> Counter:
    """Non-finite, wrongly typed and wrongly nested values through every door of the API
    (``make_config`` keywords and mappings, ``train`` on a Config changed by hand, nested
    mappings), and bad callbacks: each a ConfigError worded as the CLI words it, raised
    before the run directory exists."""
    import dormant.training.launch as launch

    counts: Counter = Counter()
    original = launch._train_locked

    def never(*args, **kwargs):
        raise RuntimeError("would train")

    launch._train_locked = never
    try:
        cases: list[tuple[str, Callable[[], Any], str | None]] = []
        for keys, values in ((FLOATS, BAD_FLOATS), (INTS, BAD_INTS)):
            for key in keys:
                extra = {"agent": "drm"} if key.startswith("drm.") else {}
                for value in values:
                    if key == "env.reward_scale" and not isinstance(value, str) and not _nonfinite(value):
                        continue  # a finite scale is refused for dmc/ for another reason (it applies to MetaWorld)
                    wanted = cli_error(key, value)
                    section, _, leaf = key.rpartition(".")
                    nested = {section: {leaf: value}} if section else {leaf: value}
                    cases.append(
                        (
                            f"make_config {key}={value!r}",
                            lambda k=key, v=value, e=extra: dormant.make_config(
                                obs="states", **e, **{k.replace(".", "__"): v}
                            ),
                            wanted,
                        )
                    )
                    cases.append(
                        (
                            f"make_config nested {nested!r}",
                            lambda n=nested, e=extra: dormant.make_config({"obs": "states", **e}, n),
                            wanted,
                        )
                    )
                    cases.append(
                        (
                            f"train(Config with {key}={value!r})",
                            lambda k=key, v=value, e=extra: _train_changed(work, k, v, e),
                            wanted,
                        )
                    )
                    cases.append(
                        (
                            f"train('{key}={value}')",
                            lambda k=key, v=value, e=extra: dormant.train(
                                [f"{k}={v}", "obs=states", *(f"{a}={b}" for a, b in e.items())], out=str(work / "never")
                            ),
                            wanted,
                        )
                    )
        for value in (-1, 0, -0.5):
            cases.append(
                (
                    f"nested agent.lr={value}",
                    lambda v=value: dormant.train({"obs": "states", "agent": {"lr": v}}, out=str(work / "never")),
                    cli_error("agent.lr", value),
                )
            )
        for callbacks in (
            5,
            "x",
            [5],
            [object()],
            [None],
            {"a": 1},
            [dormant.Callback],
            [_Every(-1)],
            [_Every("2")],
            [_Every(True)],
            dormant.Callback(),
        ):
            cases.append(
                (
                    f"callbacks={callbacks!r}",
                    lambda c=callbacks: dormant.train(obs="states", out=str(work / "never"), callbacks=c),
                    None,
                )
            )
        for name, call, wanted in cases:
            try:
                call()
                counts["silent"] += 1
            except ConfigError as err:
                ok = (wanted is None or str(err) == wanted) and not (work / "never").exists()
                counts["refused" if ok else "refused-otherwise"] += 1
            except Exception as err:
                accepted = "would train" in str(err)  # it got as far as training: accepted without a word
                counts["silent" if accepted else "crash"] += 1
                DEBUG.append(("api " + ("accepted" if accepted else "crash"), name, repr(err)))
            shutil.rmtree(work / "never", ignore_errors=True)
    finally:
        launch._train_locked = original
    return counts


def _nonfinite(value: Any) -> bool:
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return True


class _Every(dormant.Callback):
    def __init__(self, every: Any):
        self.every_frames = every


def _train_changed(work: Path, key: str, value: Any, extra: dict) -> Any:
    cfg = dormant.make_config(obs="states", **extra)
    *parents, leaf = key.split(".")
    node: Any = cfg
    for part in parents:
        node = getattr(node, part)
    setattr(node, leaf, value)
    return dormant.train(cfg, out=str(work / "never"))


def test_the_api_refuses_what_the_cli_refuses_in_the_same_words(tmp_path):
    counts = api_inputs(tmp_path)
    print(f"class 5 API inputs: {sum(counts.values())} cases: {dict(counts)}")
    assert set(counts) == {"refused"}, counts
