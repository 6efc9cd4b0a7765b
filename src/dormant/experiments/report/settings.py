"""The settings block of a report: each group's (method's) resolved configuration, what
differs between groups, and the package versions and device its runs trained with."""

from __future__ import annotations

from typing import Any

from dormant.config import flatten, with_defaults
from dormant.experiments.collect import Run
from dormant.experiments.document import Doc
from dormant.experiments.grid import applies
from dormant.training.run_environment import PACKAGES

PER_RUN = {"seed", "out"}  # differ between the runs of one group by design (listed per run instead)
UNKNOWN = "unknown"


def _value(value: Any) -> str:
    return "''" if value == "" else str(value)


def group_settings(groups: dict[str, list[Run]]) -> dict[str, dict[str, str]]:
    """option → its value in each group's runs (``a | b`` where the runs of a group differ,
    e.g. a task preset's action repeat), for groups with at least one saved config. Options
    that cannot affect a group are left out: another agent's section (``taco.*`` for DrM) and,
    without an Atari task, ``atari.*``."""
    out: dict[str, dict[str, str]] = {}
    for label, runs in groups.items():
        flats = [with_defaults(flatten(r.config)) for r in runs if r.config]
        if not flats:
            continue
        agents = {str(f.get("agent.name")) for f in flats}
        atari = any(str(f.get("task", "")).startswith("atari/") for f in flats)
        keys = sorted(
            k
            for k in set().union(*flats) - PER_RUN
            if any(applies(k, a) for a in agents) and (atari or not k.startswith("atari."))
        )
        out[label] = {k: " | ".join(sorted({_value(f.get(k, "–")) for f in flats})) for k in keys}
    return out


def environment_summary(run: Run) -> dict[str, str]:
    """The versions and the device a run trained with, or "unknown" (its run directory has
    no environment.json: it predates it); "mixed" marks a run resumed in another environment."""
    env = run.environment or {}
    versions = env.get("versions", {})
    mixed = " (mixed: resumed in another environment)" if env.get("earlier") else ""
    row = {package: str(versions.get(package, UNKNOWN)) for package in PACKAGES}
    row["device"] = str(env.get("device", UNKNOWN)) + mixed
    return row


def write_settings(doc: Doc, groups: dict[str, list[Run]]) -> None:
    doc.heading(2, "Settings")
    settings = group_settings(groups)
    labels = list(settings)
    missing = [label for label in groups if label not in settings]
    seeds = {label: sorted({r.seed for r in runs}) for label, runs in groups.items()}
    doc.text(
        "Each group is one method: the runs of one agent with the same settings, over every task and seed. "
        "Seeds per group: "
        + "; ".join(f"{label}: {len(s)} ({', '.join(map(str, s))})" for label, s in seeds.items())
        + "."
    )
    if missing:
        doc.text(f"No saved configuration (no run started): {', '.join(missing)}.")
    if labels:
        keys = sorted(set().union(*(settings[label] for label in labels)))
        # A value against "–" (an option that does not apply to the other group) is no difference.
        differ = [k for k in keys if len({settings[label][k] for label in labels if k in settings[label]}) > 1]
        doc.heading(3, "What differs between groups")
        if len(labels) < 2:
            doc.text("One group only: nothing to compare.")
        elif differ:
            doc.table(["option", *labels], [[k, *(settings[label].get(k, "–") for label in labels)] for k in differ])
        else:
            doc.text("Nothing: the groups differ only in their runs' tasks and seeds.")
        doc.heading(3, "Resolved configuration of each group")
        doc.text(
            "Every option as the runs used it (options a run's config.yaml predates are shown with the value "
            "the run ran with); `a | b`: the group's runs differ (e.g. by task preset); `–`: the option "
            "cannot affect the group (another agent's section, or `atari.*` without an Atari task). Seeds "
            "and run directories are listed under *Every run*."
        )
        doc.table(
            ["option", *labels],
            [[k, *(settings[label].get(k, "–") for label in labels)] for k in keys],
            collapsed="every option of every group",
        )
    doc.heading(3, "Software and device")
    rows = []
    for label, runs in groups.items():
        started = [r for r in runs if r.status != "missing"]
        counts: dict[tuple, int] = {}
        for run in started:
            key = tuple(environment_summary(run).items())
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            rows.append([label, f"{count} of {len(started)}", *(v for _, v in key)])
    doc.table(["group", "runs", *PACKAGES, "device"], rows)
    unknown = sum(r.environment is None for runs in groups.values() for r in runs if r.status != "missing")
    if unknown:
        doc.text(
            f'"unknown": {unknown} run(s) have no environment.json (written at the start of training since '
            "it was added), so their versions and device were not recorded."
        )
