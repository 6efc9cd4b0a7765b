"""``summary.md`` of a GPU evidence run: which phases ran, which were skipped and why, the figures."""

from __future__ import annotations

from typing import Any


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def summary_markdown(results: dict[str, Any]) -> str:
    """The Markdown summary of ``results.json``; every figure in it is also in the JSON."""
    lines = [
        f"# GPU evidence ({results.get('mode')} mode)",
        "",
        f"Wall time {results.get('wall_s')} s of a {results.get('budget_s')} s budget"
        + (
            f" on {results['machine'].get('gpu') or results['machine'].get('cpu_model')}."
            if results.get("machine")
            else "."
        ),
        "",
        *(
            ["Reduced mode: CPU and tiny budgets; its figures only show that every phase runs.", ""]
            if results.get("mode") == "reduced"
            else []
        ),
        "## Phases",
        "",
        "| phase | status | seconds | note |",
        "|---|---|---|---|",
    ]
    for name, entry in results.get("phases", {}).items():
        note = entry.get("reason", "")
        if name == "train" and entry.get("last_logged_frame") is not None:
            note = (note + "; " if note else "") + f"last logged frame {entry['last_logged_frame']}"
        lines.append(f"| {name} | {entry['status']} | {entry['seconds']} | {note} |")
    brought = results.get("brought_along")
    if brought:
        lines += [
            "",
            f"Brought along: {brought['bundle_mib']} MiB of bundle ({len(brought['files'])} files) + "
            f"{brought['project_tracked_mib']} MiB of project = {brought['total_mib']} MiB "
            f"(budget {brought['budget_mib']}, margin {brought['margin_mib']} MiB).",
        ]
    egl = results.get("egl", {})
    if egl:
        lines += [
            "",
            "## Rendering",
            "",
            f"Backend `{egl.get('backend')}`, GL renderer {_fmt(egl.get('gl_renderer'))}: "
            f"{_fmt(egl.get('ms_per_render_median'))} ms per 84×84 render "
            f"({_fmt(egl.get('renders_per_s'))} renders/s).",
        ]
    if results.get("update_ms"):
        ms = results["update_ms"]
        batch = results.get("update", {}).get("setup", {}).get("batch_size")
        lines += [
            "",
            f"## Update (DrQ-v2 from pixels, batch {batch}, median ms)",
            "",
            "| fp32 | bf16 | compile |",
            "|---|---|---|",
            f"| {_fmt(ms.get('fp32'))} | {_fmt(ms.get('bf16'))} | "
            f"{_fmt(results.get('compile', {}).get('update_ms_median'))} |",
        ]
        if results.get("compile"):
            lines.append(f"\nThe first compiled update took {results['compile']['first_update_s']} s.")
    e2e = results.get("end_to_end") or []
    if e2e:
        lines += [
            "",
            "## End-to-end frames/s (pixels, dmc/cartpole_swingup)",
            "",
            "| agent | env workers | replay | seed frames | seed phase | ratio | update phase | ratio "
            "| setup s | status |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in e2e:
            ratio = "over_host" if row["replay_device"] != "host" else "over_w1"
            lines.append(
                f"| {row['agent']} | {row['workers']} | {row['replay_device']} | {row['seed_frames']} "
                f"| {_fmt(row.get('seed_phase_fps'))} | {_fmt(row.get('seed_phase_' + ratio))} "
                f"| {_fmt(row.get('update_phase_fps'))} | {_fmt(row.get('update_phase_' + ratio))} "
                f"| {_fmt(row.get('setup_s'))} | {row['status']} |"
            )
        lines.append(
            "\nRuns in the order measured; frames/s. Ratio: over the same agent's one-worker run "
            "(replay `agent`: over the host run with as many workers), both from this run. Seed phase: random "
            "actions, no updates; with N workers it lasts until each worker has finished an "
            "episode (replay samples complete episodes). Update phase: frames/s while updating, "
            "the same updates per frame as with one worker. Setup: building the trainer "
            "(spawning the workers)."
        )
    curve = results.get("eval_curve")
    if curve:
        lines += [
            "",
            "## Eval curve beside the published DrQ-v2 curve",
            "",
            "| frame | this run | published mean ± std (frame) |",
            "|---|---|---|",
        ]
        for row in curve:
            pub = (
                f"{row['published_mean']} ± {row['published_std']} ({row['published_frame']})"
                if "published_mean" in row
                else "–"
            )
            lines.append(f"| {row['frame']} | {row['this_run']} | {pub} |")
        lines.append("\nOne seed against the published 10-seed mean; see learning_curve.png.")
    return "\n".join(lines) + "\n"
