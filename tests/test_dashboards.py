"""TensorBoard and Weights & Biases: namespaced tags against frames, hparams, the
environment record, the offline W&B run, and the errors before training."""

import json
import re
import sys

import pytest
import torch

from dormant.cli import main
from dormant.config import ConfigError, resolve
from dormant.errors import MissingExtraError
from dormant.plasticity import agent_diagnostics
from dormant.training.log_tags import CUSTOM_LAYOUT, event_tag, tag
from dormant.training.logger import RunLogger, scalars
from dormant.training.run_environment import PACKAGES, read_environment, record_environment
from helpers import TINY_STATES, wait_for

TRAIN = {
    "frame": 2000,
    "step": 1000,
    "episode": 2,
    "episode_reward": 12.0,
    "critic_loss": 0.5,
    "dormant_ratio": 0.1,
    "dormant_ratio/policy.0": 0.2,
    "sigma_beta": 0.3,
    "perturb_count": 1.0,
    "replay_ratio": 0.5,
}


def test_tags_group_values_by_namespace():
    assert scalars("train", TRAIN) == {
        "train/episode": 2,
        "train/episode_reward": 12.0,
        "train/critic_loss": 0.5,
        "drm/dormant_ratio": 0.1,
        "drm/dormant_ratio/policy.0": 0.2,
        "drm/sigma_beta": 0.3,
        "drm/perturb_count": 1.0,
        "plasticity/replay/ratio": 0.5,
    }  # frame is the x axis, step its twin: neither is a scalar
    assert tag("eval", "episode_reward") == "eval/episode_reward"
    assert tag("diagnostics", "critic_redo_dormant/q1.1") == "plasticity/critic/redo_dormant/q1.1"
    assert tag("diagnostics", "actor_dormant_ratio") == "plasticity/actor/dormant"
    assert tag("diagnostics", "encoder_srank") == "plasticity/encoder/srank"
    assert tag("diagnostics", "updates") is None
    assert scalars("events", {"frame": 9, "event": "redo", "count": 4, "detail": "q1.0=4"}) == {
        "plasticity/interventions/redo": 4
    }
    assert event_tag("drm_perturb") == "drm/perturbations" and event_tag("replay_ratio") is None


UNITS = {
    "dormant": "fraction",
    "redo_dormant": "fraction",
    "fau": "fraction",
    "dormant_ratio": "fraction",
    "sigma_beta": "factor in [0, 1]",
    "lambda": "factor in [0, 1]",
    "alpha_beta": "factor in [0, 1]",
    "srank": "directions",
    "feature_norm": "norm",
    "weight_norm": "norm",
    "grad_norm": "norm",
}


def _quantity(tag: str) -> str:
    """The quantity a tag names: ``plasticity/<net>/<quantity>/...``, else ``<namespace>/<quantity>/...``."""
    return tag.split("/")[2] if tag.startswith("plasticity/") else tag.split("/")[1]


def test_multiline_charts_never_mix_units():
    """Every custom chart gathers series of one unit (ratios with ratios, norms with norms,
    never a count with a rate): checked on the tags a real diagnostics row and DrM's train
    row produce."""
    import re

    from dormant.agents.drm import DrMAgent
    from dormant.config import AgentConfig, DrMConfig

    agent = DrMAgent(
        (5,), 1, AgentConfig(hidden_dim=16, feature_dim=8), pixels=False, device=torch.device("cpu"), drm=DrMConfig()
    )
    batch = {
        "obs": torch.randn(8, 5),
        "next_obs": torch.randn(8, 5),
        "action": torch.rand(8, 1),
        "reward": torch.rand(8, 1),
        "discount": torch.full((8, 1), 0.99),
    }
    tags = set(scalars("diagnostics", {"frame": 1, **agent_diagnostics(agent, batch)}))
    tags |= set(scalars("train", {"frame": 1, **{k: 0.0 for k in agent.METRICS}}))
    used = 0
    for section in CUSTOM_LAYOUT.values():
        for title, (_, patterns) in section.items():
            matched = {t for t in tags if any(re.search(p, t) for p in patterns)}
            units = {UNITS[_quantity(t)] for t in matched}  # a KeyError: a chart caught an unexpected tag
            assert len(units) <= 1, (title, matched)
            used += bool(matched)
    assert used >= 10  # the charts a state DrM run fills


def test_tensorboard_gets_tags_against_frames_hparams_and_the_environment(tmp_path):
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    cfg = resolve({**TINY_STATES, "log.tensorboard": True, "frames": 4000})
    (tmp_path / "unfinished").mkdir()
    unfinished = RunLogger(tmp_path / "unfinished", [], True)
    unfinished.start(resolve({**TINY_STATES, "frames": 8000}), torch.device("cpu"))
    unfinished.log("eval", {"frame": 4000, "step": 2000, "episode": 3, "episode_reward": 321.0})
    unfinished.close()  # stopped before its budget: no hparams yet (its resume writes them)
    assert "hparams" not in EventMultiplexer().AddRunsFromDirectory(
        str(tmp_path / "unfinished" / "tb")
    ).Reload().PluginRunToTagToContent("hparams")
    logger = RunLogger(tmp_path, ["critic_loss", "dormant_ratio", "replay_ratio"], True)
    logger.start(cfg, torch.device("cpu"))
    logger.log("train", {**TRAIN, "frame": 2000})
    logger.log("diagnostics", {"frame": 3000, "step": 1500, "updates": 10, "critic_srank": 7.0})
    logger.log("eval", {"frame": 4000, "step": 2000, "episode": 3, "episode_reward": 321.0})
    logger.close()
    runs = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "tb"))
    runs.Reload()
    events = runs.GetAccumulator(".")
    assert [(e.step, e.value) for e in events.Scalars("plasticity/critic/srank")] == [(3000, 7.0)]
    assert [e.step for e in events.Scalars("train/critic_loss")] == [2000]
    assert [(e.step, e.value) for e in events.Scalars("hparams/final_eval_return")] == [(4000, 321.0)]
    hparams = runs.PluginRunToTagToContent("hparams")["."]
    assert {"_hparams_/experiment", "_hparams_/session_start_info"} <= set(hparams)
    assert b"agent.hidden_dim" in hparams["_hparams_/session_start_info"]
    env = read_environment(tmp_path)
    assert set(env["versions"]) == set(PACKAGES) and env["versions"]["torch"] == torch.__version__
    assert env["device"].startswith("cpu (")


def test_environment_record_keeps_an_earlier_environment_that_differs(tmp_path):
    (tmp_path / "environment.json").write_text(
        json.dumps({"versions": {"torch": "0.1"}, "device": "cuda:0 (X)", "wandb": {"id": "abc"}})
    )
    record = record_environment(tmp_path, torch.device("cpu"))
    assert record["earlier"] == [{"versions": {"torch": "0.1"}, "device": "cuda:0 (X)"}]
    assert record["wandb"] == {"id": "abc"}  # kept for a resumed W&B run
    assert record_environment(tmp_path, torch.device("cpu"))["earlier"] == record["earlier"]  # same again: no new entry


def test_wandb_offline_run_logs_the_same_tags(tmp_path, monkeypatch):
    pytest.importorskip("wandb")  # the `test` extra installs it, so CI runs this
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-dir"))
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = resolve({**TINY_STATES, "log.wandb": True})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    logger = RunLogger(run_dir, ["critic_loss"], False)
    logger.start(cfg, torch.device("cpu"))
    logger.log("train", TRAIN)
    logger.log("eval", {"frame": 4000, "step": 2000, "episode": 3, "episode_reward": 321.0})
    logger.close()
    saved = read_environment(run_dir)["wandb"]
    assert saved["mode"] == "offline" and saved["project"] == "dormant"
    (record,) = (tmp_path / "wandb-dir" / "wandb").glob(f"offline-run-*-{saved['id']}/run-{saved['id']}.wandb")
    import wandb

    wandb.teardown()  # the W&B service writes its offline record out asynchronously: let it finish
    assert wait_for(lambda: b"hparams/final_eval_return" in record.read_bytes(), timeout=60)
    data = record.read_bytes()
    for name in (
        b"drm/sigma_beta",
        b"train/critic_loss",
        b"eval/episode_reward",
        b"frame",
        b"agent.hidden_dim",
        b"hparams/final_eval_return",
    ):
        assert name in data, name


def test_missing_wandb_or_a_bad_mode_is_a_clear_error_before_training(tmp_path, monkeypatch, capsys):
    cfg = resolve({**TINY_STATES, "log.wandb": True, "log.wandb_mode": "sometimes"})
    with pytest.raises(ConfigError, match=re.escape("log.wandb_mode='sometimes'")):
        RunLogger(tmp_path, [], False).start(cfg, torch.device("cpu"))
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb now raises ImportError
    with pytest.raises(MissingExtraError, match=r"log.wandb=true needs the optional 'wandb'"):
        RunLogger(tmp_path, [], False).start(resolve({**TINY_STATES, "log.wandb": True}), torch.device("cpu"))
    out = tmp_path / "run"
    args = [f"{k}={v}" for k, v in TINY_STATES.items()]
    assert main(["train", *args, "frames=4000", "log.wandb=true", f"out={out}"]) == 2
    assert "'.[wandb]'" in capsys.readouterr().err  # the extra that installs it
    assert not (out / "train.csv").exists()  # nothing trained
