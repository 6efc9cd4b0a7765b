"""Aggregate statistics against hand-computed values, and the report on fixed runs."""

import json
import math
import re

import numpy as np
import pytest
import scipy.stats

from dormant.cli import main
from dormant.config import resolve
from dormant.experiments.collect import Run, collect
from dormant.experiments.plot import reference_curve, reference_dir
from dormant.experiments.report import write_report
from dormant.experiments.stats import broken_seeds, iqm, mean, normalized_auc, stratified_bootstrap
from helpers import tiny_states


def test_iqm_by_hand_and_like_scipy_trim_mean():
    assert iqm(np.arange(1.0, 9.0)) == 4.5  # drop 1, 2 and 7, 8: mean(3, 4, 5, 6)
    assert iqm([10.0, 1.0, 2.0, 3.0, 100.0]) == 5.0  # ⌊5/4⌋ = 1 from each end: mean(2, 3, 10)
    assert iqm([7.0]) == 7.0 and iqm([1.0, 3.0]) == 2.0  # fewer than 4 scores: nothing dropped
    x = np.random.default_rng(0).normal(size=(5, 11))
    np.testing.assert_allclose(iqm(x, axis=-1), scipy.stats.trim_mean(x, 0.25, axis=1))
    assert math.isclose(iqm(x), scipy.stats.trim_mean(x.ravel(), 0.25))
    assert mean(np.array([[1.0, 2.0], [3.0, 6.0]])) == 3.0


def test_bootstrap_ci_matches_the_exact_resampling_distribution():
    # One task, seeds [0, 0, 0, 1]: a resample's sum is Binomial(4, 1/4):
    # P(≤0) = .316, P(≤1) = .738, P(≤2) = .949, P(≤3) = .996, so the 2.5 % and
    # 97.5 % quantiles of the resampled mean are 0 and 3/4; the point estimate 1/4.
    ci = stratified_bootstrap([np.array([0.0, 0.0, 0.0, 1.0])], mean, reps=20_000, seed=1)
    assert (ci.point, ci.low, ci.high) == (0.25, 0.0, 0.75)
    # Seeds [0, 1, 2]: P(mean = 0) = 1/27 = 3.7 % > 2.5 %, so the interval is [0, 2].
    ci = stratified_bootstrap([np.array([0.0, 1.0, 2.0])], mean, reps=20_000, seed=1)
    assert (ci.point, ci.low, ci.high) == (1.0, 0.0, 2.0)


def test_bootstrap_is_stratified_by_task():
    # Task A scores 0 on every seed, task B 1: each resample keeps four of each, so
    # the pooled IQM (drop two lowest and two highest of eight) is always 0.5. Pooling
    # seeds across tasks would give resamples with IQM 0 or 1.
    ci = stratified_bootstrap([np.zeros(4), np.ones(4)], iqm, reps=5000)
    assert (ci.point, ci.low, ci.high) == (0.5, 0.5, 0.5)
    # Unequal seed counts are allowed (a missing seed shrinks one task only).
    ci = stratified_bootstrap([np.zeros(3), np.ones(5)], mean, reps=2000)
    assert ci.point == 5 / 8 and ci.low == ci.high == 5 / 8


def test_auc_and_broken_seeds():
    assert normalized_auc([0, 10, 20], [0.0, 10.0, 10.0]) == 7.5  # (50 + 100) / 20
    assert normalized_auc([5], [3.0]) == 3.0
    assert broken_seeds({1: 0.80, 2: 0.75, 3: 0.10}) == [3]  # 0.10 < 0.5 × median(0.80, 0.75)
    assert broken_seeds({1: 0.80, 2: 0.75, 3: 0.45}) == []
    assert broken_seeds({1: 0.05, 2: 0.01, 3: 0.0}) == []  # nothing learned: no broken seed


def _fake_run(path, task, agent, seed, evals, *, status="finished", frames=None, success=None):
    """A run directory as the trainer leaves it, with fixed evaluation numbers."""
    frames = frames or evals[-1][0]
    path.mkdir(parents=True)
    cfg = tiny_states(task=task, agent=agent, seed=seed, frames=frames)
    (path / "config.yaml").write_text(cfg.to_yaml())
    header = "frame,step,episode,episode_reward,episode_length,fps,elapsed_s,episode_reward_std"
    header += ",success_rate" if success else ""
    rows = [
        f"{f},{f // 2},0,{r},1000,100,1,0" + (f",{s}" if success else "")
        for (f, r), s in zip(evals, success or [None] * len(evals), strict=True)
    ]
    (path / "eval.csv").write_text("\n".join([header, *rows]) + "\n")
    (path / "train.csv").write_text(
        "frame,step,episode,episode_reward,dormant_ratio\n"
        + "".join(f"{f},{f // 2},1,{r},{0.1 * i}\n" for i, (f, r) in enumerate(evals))
    )
    (path / "status.json").write_text(json.dumps({"status": status, "frame": evals[-1][0]}))


@pytest.fixture
def fake_sweep(tmp_path):
    """2 methods × 2 DMC tasks × 3 seeds, one seed partial and one never started."""
    sweep = tmp_path / "sweep"
    runs = {}
    finals = {
        ("dmc/cartpole_swingup", "drqv2"): [800, 700, 100],
        ("dmc/cartpole_swingup", "drm"): [850, 820, 790],
        ("dmc/cartpole_balance", "drqv2"): [900, 950, 1000],
        ("dmc/cartpole_balance", "drm"): [990, 980, None],
    }
    for (task, agent), scores in finals.items():
        for seed, final in enumerate(scores, start=1):
            run_id = f"{task.replace('/', '_')}/{agent}/seed{seed}"
            runs[run_id] = {"task": task, "agent": agent, "seed": seed, "frames": 20000}
            if final is None:
                continue  # planned, never started
            status = "interrupted" if (task, agent, seed) == ("dmc/cartpole_swingup", "drm", 3) else "finished"
            evals = (
                [(0, 0.0), (10000, final / 2), (20000, final)] if status == "finished" else [(0, 0.0), (10000, 400.0)]
            )
            _fake_run(sweep / run_id, task, agent, seed, evals, status=status, frames=20000)
    (sweep / "sweep.json").write_text(json.dumps({"version": 1, "shared": {}, "runs": runs}))
    return sweep


def test_report_tables_aggregates_and_listing_of_incomplete_runs(fake_sweep, tmp_path):
    runs = collect([fake_sweep])
    assert len(runs) == 12
    assert sorted(r.status for r in runs).count("finished") == 10
    md, page = write_report([fake_sweep], tmp_path / "report", reps=500)
    text = md.read_text()
    # Finished drqv2 seeds on swingup: finals 800, 700, 100: mean 533.3, sample std (ddof 1)
    # √((266.7² + 166.7² + 433.3²) / 2) = 378.6; AUC of (0, f/2, f) over (0, 10k, 20k)
    # frames = f/2: 266.7 ± 189.3. "final at frame": the frame each final comes from.
    assert "| dmc/cartpole_swingup | drqv2 | 3/3 | return | 533.3 ± 378.6 | 20000 | 266.7 ± 189.3 |" in text
    assert "| dmc/cartpole_swingup | drm | 2/3 | return | 835.0 ± 21.2 | 20000 |" in text  # √(15² + 15²)
    assert "sample std over seeds (ddof=1)" in text
    assert "400 (10000)" in text  # the partial run's last evaluation, with its frame
    # The partial and the missing run are listed, never dropped silently.
    assert "interrupted at frame 10000 of 20000" in text
    assert "dmc_cartpole_balance/drm/seed3 (missing: not started)" in text
    # Seed 3 of drqv2 on swingup (0.1) is below half the others' median (0.75).
    assert "| dmc/cartpole_swingup | drqv2 | 3 | 0.100 | 0.750 |" in text
    # Aggregate: drqv2's normalized finals {0.8, 0.7, 0.1} ∪ {0.9, 0.95, 1.0}: IQM drops
    # ⌊6/4⌋ = 1 at each end: mean(0.7, 0.8, 0.9, 0.95) = 0.8375 (0.83749… in binary);
    # mean 0.741667. drm: {0.85, 0.82} ∪ {0.99, 0.98}: IQM mean(0.85, 0.98) = 0.915.
    # The aggregate says how many runs it used and how many unfinished it left out, per group.
    assert "| drqv2 | 6 | 0 | 0.837 [" in text and "| 0.742 [" in text
    assert "| drm | 4 | 1 | 0.915 [" in text and "| 0.910 [" in text
    assert "drm: 4 finished run(s) used, 1 unfinished left out, 1 planned but never started" in text
    # P(drqv2 > drm) on finished runs: swingup {0.8, 0.7, 0.1} vs {0.85, 0.82}: 0 of 6 pairs;
    # balance {0.9, 0.95, 1.0} vs {0.99, 0.98}: 1.0 beats both, 2 of 6 pairs: (0 + 1/3) / 2.
    assert "| drqv2 | drm | 0.167 [" in text and "| drm | drqv2 | 0.833 [" in text
    for png in (tmp_path / "report" / "figures").iterdir():
        assert png.stat().st_size > 10_000, png
    assert {p.name for p in (tmp_path / "report" / "figures").iterdir()} == {
        "aggregate.png",
        "improvement.png",
        "profiles.png",
        "iqm_frames.png",
        "dmc_cartpole_swingup.png",
        "dmc_cartpole_balance.png",
        "dmc_cartpole_swingup_plasticity.png",
        "dmc_cartpole_balance_plasticity.png",
    }
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 8 and "<table>" in html
    assert reference_dir() is None  # the overlay comes from the curves packaged with dormant


def test_published_drqv2_curves_ship_with_the_package():
    frames, mean, std = reference_curve("dmc/cartpole_swingup")
    assert len(frames) == 50 and frames[0] == 0 and frames[-1] == 980_000  # every 20k frames
    # The authors' 10 seeds reach ≈ 800+ on cartpole swingup by 500k frames.
    assert mean[frames <= 500_000][-1] > 750 and (std >= 0).all()
    assert reference_curve("metaworld/assembly") is None and reference_curve("dmc/not_a_task") is None


def test_report_labels_methods_that_differ_in_a_setting(tmp_path):
    _fake_run(tmp_path / "a", "dmc/cartpole_balance", "drqv2", 1, [(0, 0.0), (4000, 500.0)])
    _fake_run(tmp_path / "b", "dmc/cartpole_balance", "drqv2", 1, [(0, 0.0), (4000, 600.0)])
    config = (tmp_path / "b" / "config.yaml").read_text().replace("redo: false", "redo: true")
    (tmp_path / "b" / "config.yaml").write_text(config)
    labels = sorted(r.label for r in collect([tmp_path]))
    assert labels == ["drqv2 plasticity.redo=False", "drqv2 plasticity.redo=True"]


def test_report_success_tasks_use_success_rate(tmp_path):
    _fake_run(tmp_path / "mw", "dmc/cartpole_balance", "drm", 1, [(0, 10.0), (4000, 30.0)], success=[0.0, 0.6])
    (run,) = collect([tmp_path])
    assert run.has_success and run.final == 0.6 and run.normalized(run.final) == 0.6
    md, _ = write_report([tmp_path], tmp_path / "rep", reps=200)
    assert "| success | 0.60 (1 seed, no std) |" in md.read_text()
    assert (tmp_path / "rep" / "figures" / "dmc_cartpole_balance.png").stat().st_size > 10_000


def test_report_cli_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["report", str(tmp_path)]) == 2
    assert "no run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "reps=abc"]) == 2
    assert main(["report", str(tmp_path), "colour=red"]) == 2


def test_report_of_a_folder_of_sweeps_keeps_missing_runs_with_their_method(fake_sweep, tmp_path):
    # Both sweeps in one folder: the second sweep's runs differ in a setting.
    other = tmp_path / "sweep-redo"
    _fake_run(other / "dmc_cartpole_balance/drqv2/seed1", "dmc/cartpole_balance", "drqv2", 1, [(0, 0.0), (4000, 9.0)])
    config = other / "dmc_cartpole_balance/drqv2/seed1/config.yaml"
    config.write_text(config.read_text().replace("redo: false", "redo: true"))
    (other / "sweep.json").write_text(
        json.dumps(
            {
                "runs": {
                    "dmc_cartpole_balance/drqv2/seed1": {
                        "task": "dmc/cartpole_balance",
                        "agent": "drqv2",
                        "seed": 1,
                        "frames": 4000,
                    },
                    "dmc_cartpole_balance/drqv2/seed2": {
                        "task": "dmc/cartpole_balance",
                        "agent": "drqv2",
                        "seed": 2,
                        "frames": 4000,
                    },
                }
            }
        )
    )
    runs = collect([tmp_path])
    assert len(runs) == 14
    missing = next(r for r in runs if r.sweep == other and r.seed == 2)
    assert missing.status == "missing" and missing.label == "drqv2 plasticity.redo=True"


def test_saved_configs_that_predate_an_option_are_read_with_what_they_ran(tmp_path):
    """A run saved before an option existed ran with today's default, or with the old
    behaviour where the option changed it (DrM's β scoring); logging options never make a
    method."""
    from dormant.config import with_defaults

    assert with_defaults({})["drm.dormant_scoring"] == "pre_activation"
    assert with_defaults({})["drm.awaken_after_exploration"] is True
    assert with_defaults({"drm.dormant_scoring": "post_activation"})["drm.dormant_scoring"] == "post_activation"
    _fake_run(tmp_path / "old", "dmc/cartpole_balance", "drqv2", 1, [(0, 0.0), (4000, 500.0)])
    _fake_run(tmp_path / "new", "dmc/cartpole_balance", "drqv2", 2, [(0, 0.0), (4000, 600.0)])
    for name, drop in (("old", "progress_every_s"), ("new", None)):
        lines = (tmp_path / name / "config.yaml").read_text().splitlines()
        (tmp_path / name / "config.yaml").write_text("\n".join(line for line in lines if not drop or drop not in line))
    assert {r.label for r in collect([tmp_path])} == {"drqv2"}


def _links(text: str) -> list[str]:
    """Relative targets of Markdown links and HTML anchors/images (not embedded data)."""
    found = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'(?:href|src)="([^"]+)"', text)
    return [t for t in found if not t.startswith(("data:", "http"))]


def test_report_links_every_run_to_its_directory_config_and_tensorboard(fake_sweep, tmp_path):
    (fake_sweep / "dmc_cartpole_swingup/drqv2/seed1/tb").mkdir()
    out = tmp_path / "elsewhere" / "report"
    md, page = write_report([fake_sweep], out, reps=100)
    text, html = md.read_text(), page.read_text()
    for target in _links(text) + _links(html):
        assert (out / target).exists(), target  # relative to the report, in both renderings
    run = "../../sweep/dmc_cartpole_swingup/drqv2/seed1"
    assert f'<a href="{run}/">' in text and f"[config.yaml]({run}/config.yaml)" in text
    assert f'<a href="{run}/tb/">TensorBoard</a>' in text and f'<a href="{run}/config.yaml">' in html
    assert text.count("no TensorBoard logs") == 11  # every other run, the one never started included
    assert "dmc_cartpole_balance/drm/seed3 (does not exist)" in text


def test_unfinished_runs_are_drawn_apart_and_counted_per_group(fake_sweep, tmp_path):
    md, _ = write_report([fake_sweep], tmp_path / "r", reps=100)
    text = md.read_text()
    assert "Unfinished runs drawn: drm 1." in text  # swingup, drm seed 3 (interrupted at 10k of 20k)
    assert "drqv2: 6 finished of 6" in text and "drm: 4 finished of 6" in text


def test_settings_block_names_differences_and_unknown_versions(fake_sweep, tmp_path):
    run = fake_sweep / "dmc_cartpole_swingup/drm/seed1"
    (run / "environment.json").write_text(
        json.dumps(
            {
                "versions": {
                    "torch": "9.9",
                    "dm-control": "1.0.28",
                    "mujoco": "3.3.0",
                    "numpy": "2.4.6",
                    "dormant": "0.1.0",
                },
                "device": "cuda:0 (GPU X)",
            }
        )
    )
    md, _ = write_report([fake_sweep], tmp_path / "r", reps=100)
    text = md.read_text()
    assert "| option | drm | drqv2 |\n|---|---|---|\n| agent.name | drm | drqv2 |\n\n" in text  # the one difference
    assert "| env.obs | states | states |" in text  # every resolved option of every group
    assert "| drm | 1 of 5 | 9.9 | 1.0.28 | 3.3.0 | 2.4.6 | 0.1.0 | cuda:0 (GPU X) |" in text
    assert "| drm | 4 of 5 | unknown | unknown | unknown | unknown | unknown | unknown |" in text
    assert "Seeds per group: drm: 3 (1, 2, 3); drqv2: 3 (1, 2, 3)." in text


def test_reference_overlay_only_where_the_settings_match(tmp_path):
    _fake_run(tmp_path / "states", "dmc/cartpole_swingup", "drqv2", 1, [(0, 0.0), (4000, 100.0)])
    md, _ = write_report([tmp_path / "states"], tmp_path / "r1", reps=50)
    assert "not drawn: no group ran with its settings (drqv2: env.frame_stack=1, env.obs=states)" in md.read_text()
    pixels = tmp_path / "pixels"
    _fake_run(pixels, "dmc/cartpole_swingup", "drm", 1, [(0, 0.0), (4000, 100.0)])
    config = (pixels / "config.yaml").read_text().replace("obs: states", "obs: pixels")
    (pixels / "config.yaml").write_text(config.replace("frame_stack: 1", "frame_stack: 3"))
    md, _ = write_report([pixels], tmp_path / "r2", reps=50)
    assert "Published DrQ-v2 curve drawn: drm ran with its environment settings." in md.read_text()


def test_bands_are_clipped_to_the_quantity_range():
    from dormant.experiments.report.figures import draw_band

    class Axes:
        def plot(self, *args, **kwargs):
            pass

        def fill_between(self, frames, low, high, **kwargs):
            self.low, self.high = low, high

    ax = Axes()
    draw_band(
        ax, np.array([0, 1, 2]), np.array([50.0, 500.0, 990.0]), np.array([100.0, 10.0, 30.0]), "C0", (0.0, 1000.0)
    )
    assert list(ax.low) == [0.0, 490.0, 960.0] and list(ax.high) == [150.0, 510.0, 1000.0]


def test_old_runs_without_new_diagnostics_are_reported_as_missing(tmp_path):
    run = tmp_path / "old"
    _fake_run(run, "dmc/cartpole_balance", "drm", 1, [(0, 0.0), (4000, 100.0)])
    (run / "diagnostics.csv").write_text(
        "frame,step,episode,elapsed_s,updates,actor_dormant_ratio,critic_fau\n"
        "2000,1000,1,1.0,100,0.1,0.5\n4000,2000,2,2.0,200,0.05,0.6\n"
    )
    md, _ = write_report([run], tmp_path / "r", reps=50)
    text = md.read_text()
    assert "| critic srank (penultimate, mean of heads) | 0 of 1 | their diagnostics.csv predates this column" in text
    assert "| DrM σ(β) | 0 of 1 | their train.csv predates this column" in text
    assert "Not applicable to these runs" in text and "encoder FAU" in text
    assert (tmp_path / "r" / "figures" / "dmc_cartpole_balance_plasticity.png").stat().st_size > 10_000


def test_hyperparameter_axes_label_runs_that_never_started_and_lone_values(tmp_path):
    """A sweep's axis names its methods from the manifest: a planned run that never started
    gets its own value's label, and an axis whose other value has not started yet still shows."""
    sweep = tmp_path / "sweep"
    _fake_run(sweep / "a/seed1", "dmc/cartpole_balance", "drqv2", 1, [(0, 0.0), (4000, 500.0)])
    config = sweep / "a/seed1/config.yaml"
    config.write_text(config.read_text().replace("lr: 0.0001", "lr: 0.0003"))
    entry = {"task": "dmc/cartpole_balance", "agent": "drqv2", "frames": 4000}
    (sweep / "sweep.json").write_text(
        json.dumps(
            {
                "runs": {
                    "a/seed1": {**entry, "seed": 1, "params": {"agent.lr": "0.0003"}},
                    "a/seed2": {**entry, "seed": 2, "params": {"agent.lr": "0.0003"}},
                    "b/seed1": {**entry, "seed": 1, "params": {"agent.lr": "0.0001"}},
                }
            }
        )
    )
    labels = {(r.path.parent.name, r.seed): r.label for r in collect([sweep])}
    assert labels == {
        ("a", 1): "drqv2 agent.lr=0.0003",
        ("a", 2): "drqv2 agent.lr=0.0003",
        ("b", 1): "drqv2 agent.lr=0.0001",
    }


def test_tasks_without_a_known_score_range_stay_out_of_the_aggregates(tmp_path):
    _fake_run(tmp_path / "g", "gym:Pendulum-v1", "drqv2", 1, [(0, -1200.0), (4000, -150.0)])
    (run,) = collect([tmp_path])
    assert run.score_range is None and math.isnan(run.normalized(run.final))
    md, _ = write_report([tmp_path], tmp_path / "rep", reps=200)
    assert "no known score range to normalise by" in md.read_text() and "gym:Pendulum-v1" in md.read_text()


def test_the_published_curve_is_drawn_only_for_runs_at_its_settings():
    from dormant.experiments.plot import config_reference_mismatch

    assert config_reference_mismatch(resolve({"task": "dmc/cartpole_swingup"}).to_dict()) == []
    states = config_reference_mismatch(resolve({"task": "dmc/cartpole_balance", "obs": "states"}).to_dict())
    assert states == ["env.obs=states", "env.frame_stack=1"]
    fast = resolve({"task": "dmc/cartpole_swingup", "env.fast_render": "true"}).to_dict()
    assert config_reference_mismatch(fast) == ["env.fast_render=True"]


def test_settings_leave_out_options_that_cannot_affect_a_group(tmp_path):
    """Another agent's section, and atari.* without an Atari task, are `–`, not differences."""
    from pathlib import Path

    from dormant.experiments.collect import Run
    from dormant.experiments.report.settings import group_settings

    def run(agent: str, **extra) -> Run:
        cfg = resolve({"agent": agent, "task": "dmc/cartpole_swingup", "obs": "states", **extra}).to_dict()
        return Run(
            path=Path(tmp_path),
            task="dmc/cartpole_swingup",
            agent=agent,
            seed=1,
            planned_frames=1,
            status="finished",
            config=cfg,
        )

    settings = group_settings({"drm": [run("drm", **{"drm.threshold": 0.1})], "drqv2": [run("drqv2")]})
    assert settings["drm"]["drm.threshold"] == "0.1" and "drm.threshold" not in settings["drqv2"]
    assert not any(k.startswith(("atari.", "taco.", "dqn.", "sac.", "alix.")) for s in settings.values() for k in s)
    assert settings["drm"]["agent.lr"] == settings["drqv2"]["agent.lr"]


def test_report_html_renders_paragraphs_with_a_markdown_renderer():
    """Emphasis inside inline code broke the hand-written substitutions (`a*b*c` became
    a<i>b</i>c); text with < or & in a name stays text."""
    from dormant.experiments.document import Doc

    html_text = Doc._html_text("runs of `gym:my*env*:Env` are **unfinished**, *see below*; a <name> & more")
    assert "<code>gym:my*env*:Env</code>" in html_text
    assert "<strong>unfinished</strong>" in html_text and "<em>see below</em>" in html_text
    assert "&lt;name&gt; &amp; more" in html_text and "<name>" not in html_text


def test_a_declared_score_range_brings_gym_tasks_into_the_aggregates(tmp_path, capsys):
    """From the CLI (`score_range.<task>=low,high`) or on register_suite (`score_range=`)."""
    from dormant.cli import main
    from dormant.envs import register_suite, unregister_suite

    for seed, final in ((1, -150.0), (2, -300.0)):
        _fake_run(tmp_path / "runs" / f"g{seed}", "gym:Pendulum-v1", "drqv2", seed, [(0, -1200.0), (4000, final)])
    assert (
        main(
            [
                "report",
                str(tmp_path / "runs"),
                f"out={tmp_path / 'rep'}",
                "reps=200",
                "score_range.gym:Pendulum-v1=-1600,0",
            ]
        )
        == 0
    )
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "no known score range" not in md and "IQM" in md
    (run, _) = collect([tmp_path / "runs"])
    run.declared_range = (-1600.0, 0.0)
    assert run.normalized(-150.0) == pytest.approx(1450 / 1600)
    for bad in ("0", "1,0", "a,b", "0,inf"):
        assert main(["report", str(tmp_path / "runs"), f"score_range.gym:Pendulum-v1={bad}"]) == 2
    assert "low,high" in capsys.readouterr().err
    register_suite(
        "ranged",
        make=lambda task, cfg, seed: None,
        tasks=["a", "b"],
        score_range=lambda task: (0.0, 10.0) if task == "a" else None,
    )
    try:
        assert Run(tmp_path, "ranged/a", "drqv2", 1, 0, "finished").score_range == (0.0, 10.0)
        assert Run(tmp_path, "ranged/b", "drqv2", 1, 0, "finished").score_range is None
    finally:
        unregister_suite("ranged")
