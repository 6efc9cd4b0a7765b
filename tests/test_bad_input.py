"""Bad input, table-driven: every case ends with a one- or two-line `error:` naming the
problem and exit code 2, never a traceback, and nothing is trained."""

import pytest

from dormant.cli import main
from dormant.training.trainer import Trainer
from helpers import tiny_states

S = ["obs=states"]  # states: refusals that need no renderer
DRM = ["agent=drm", *S]

# (arguments after `dormant train`, text the error must contain)
TRAIN = [
    (["task=dmc/cartpole_swingupp"], "did you mean 'dmc/cartpole_swingup'"),
    (["task=nosuite/x"], "unknown task"),
    (["task="], "unknown task"),
    (["task=dmc/"], "unknown task"),
    (["agent=drqv3"], "did you mean 'drqv2'"),
    (["agent="], "unknown agent"),
    (["obs=pixel"], "did you mean 'pixels'"),
    (["frames=0"], "frames must be > 0"),
    (["frames=-5"], "frames must be > 0"),
    (["frames=abc"], "expected int"),
    (["frames=1.5"], "expected int"),
    (["frames=1e400"], "out of range"),
    (["frames="], "expected int"),
    (["frames=100"], "impossible budget"),
    (["seed=-1"], "seed must be ≥ 0"),
    (["seed=9007199254740993"], "seed must be ≤ 4294967295"),
    (["seed=abc"], "expected int"),
    (["seed=1.5"], "expected int"),
    (["obs=pixels", "env.image_size=7"], "too small for the conv encoder"),
    (["obs=pixels", "env.image_size=0"], "env.image_size must be > 0"),
    (["obs=pixels", "env.image_size=100000"], "above 512"),
    (["env.frame_stack=0"], "env.frame_stack must be > 0"),
    (["env.frame_stack=100000"], "env.frame_stack=100000 is above 16"),
    (["env.action_repeat=0"], "env.action_repeat must be > 0"),
    (["env.action_repeat=1000"], "above 100"),
    (["env.reward_scale=2"], "env.reward_scale applies to MetaWorld/Adroit"),
    (["obs=pixels", "env.reward_scale=0", "task=metaworld/assembly"], "env.reward_scale must be > 0"),
    (["env.reward_scale=nan"], "expected float"),
    (["env.camera=top"], "env.camera names a MetaWorld/Adroit camera"),
    (["env.proprio=true"], "needs a suite with proprioception"),
    (["env.fast_render=maybe"], "expected bool"),
    (["agent.lr=0"], "agent.lr must be > 0"),
    (["agent.lr=-1"], "agent.lr must be > 0"),
    (["agent.lr=inf"], "expected float"),
    (["agent.batch_size=0"], "agent.batch_size must be > 0"),
    (["agent.nstep=0"], "agent.nstep must be > 0"),
    (["agent.discount=1.5"], "agent.discount must be in (0, 1]"),
    (["agent.discount=0"], "agent.discount must be in (0, 1]"),
    (["agent.stddev_schedule=linear(1.0)"], "agent.stddev_schedule"),
    (["agent.stddev_schedule=foo"], "agent.stddev_schedule"),
    (["agent.critic_target_tau=2"], "agent.critic_target_tau must be in (0, 1]"),
    (["agent.critic_dropout=1"], "agent.critic_dropout must be in [0, 1)"),
    (["agent.hidden_dim=0"], "agent.hidden_dim must be > 0"),
    (["agent.feature_dim=-1"], "agent.feature_dim must be > 0"),
    (["agent.num_expl_steps=-1"], "agent.num_expl_steps must be ≥ 0"),
    (["agent.update_every_steps=0"], "agent.update_every_steps must be > 0"),
    (["replay.capacity=0"], "replay.capacity must be > 0"),
    (["replay.capacity=10"], "smaller than one batch"),
    (["eval.every_frames=0"], "eval.every_frames must be > 0"),
    (["eval.episodes=-1"], "eval.episodes must be ≥ 0"),
    (["log.diagnostics_every_updates=-1"], "must be ≥ 0"),
    (["log.redo_tau=0"], "log.redo_tau must be in (0, 1]"),
    (["log.progress_every_s=0"], "log.progress_every_s must be > 0"),
    (["device=tpu"], "expected auto, cpu, cuda or cuda:N"),
    (["threads=-1"], "threads must be ≥ 0"),
    (["num_seed_frames=-1"], "num_seed_frames must be ≥ 0"),
    (["checkpoint_every_frames=0"], "checkpoint_every_frames must be > 0"),
    (["drm.threshold=0.5"], "drm.* options apply to agent=drm only"),
    ([*DRM, "drm.threshold=0"], "drm.threshold must be in (0, 1]"),
    ([*DRM, "drm.threshold=2"], "drm.threshold must be in (0, 1]"),
    ([*DRM, "drm.alpha_min=0.95"], "exceeds drm.alpha_max"),
    ([*DRM, "drm.fixed_alpha=2"], "drm.fixed_alpha must be -1"),
    ([*DRM, "drm.fixed_lambda=-0.5"], "drm.fixed_lambda must be -1"),
    ([*DRM, "drm.perturb_target=inital"], "did you mean 'initial'"),
    ([*DRM, "drm.perturb_scope=some"], "drm.perturb_scope"),
    ([*DRM, "drm.before_awaken=x"], "drm.before_awaken"),
    ([*DRM, "drm.dormant_scoring=pre"], "drm.dormant_scoring"),
    ([*DRM, "drm.expectile=0"], "drm.expectile must be in (0, 1]"),
    ([*DRM, "drm.perturb_every_frames=0"], "drm.perturb_every_frames must be > 0"),
    ([*DRM, "drm.awaken=perhaps"], "expected bool"),
    (["preset=nope"], "unknown preset"),
    (["obs=pixels", "preset=drm-reference-metaworld", "task=metaworld/assembly"], "it needs agent=drm"),
    (["replay_ratio=fast"], "plasticity.replay_ratio"),
    (["replay_ratio=0"], "plasticity.replay_ratio"),
    (["replay_ratio=-1/2"], "plasticity.replay_ratio"),
    (["plasticity.redo=true", "plasticity.redo_nets=critc"], "did you mean 'critic'"),
    (["plasticity.redo=true", "plasticity.redo_nets="], "plasticity.redo_nets is empty"),
    (["plasticity.redo=true", "plasticity.redo_nets=encoder"], "needs obs=pixels"),
    (["plasticity.redo=true", "plasticity.redo_nets=value"], "needs agent=drm"),
    (["plasticity.reset_scope=some"], "plasticity.reset_scope"),
    (["plasticity.shrink_perturb_alpha=2"], "plasticity.shrink_perturb_alpha must be in [0, 1]"),
    (["plasticity.redo_tau=1"], "plasticity.redo_tau must be in [0, 1)"),
    (["plasticity.rr_low=0"], "plasticity.rr_low must be > 0"),
    (["nonsense_key=1"], "unknown option 'nonsense_key'"),
    (["agent.lrr=1"], "did you mean 'agent.lr'"),
    (["frames=1000", "frames=2000"], "given twice"),
    (["frames"], "expected key=value"),
    (["=5"], "unknown option ''"),
    (["fràmes=1"], "unknown option 'fràmes'"),
    (["task=metaworld/assembly"], ""),  # pixels: placeholder replaced below (obs=states on MetaWorld)
]
TRAIN[-1] = (["task=metaworld/assembly", "obs=states"], "obs=states is available for dmc/, gym: tasks only")


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    return code, err


def check(code: int, err: str, expected: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert lines and lines[0].startswith("error: ") and len(lines) <= 3, err
    assert expected in err, err


@pytest.mark.parametrize("args, expected", TRAIN, ids=[" ".join(a) for a, _ in TRAIN])
def test_train_refuses_bad_options(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.setattr("dormant.training.launch._train_locked", lambda *a: pytest.fail("training started"))
    code, err = run(
        capsys,
        "train",
        *(["obs=states"] if not any(a.startswith("obs=") for a in args) else []),
        *args,
        f"out={tmp_path / 'run'}",
    )
    check(code, err, expected)
    assert not (tmp_path / "run" / "train.csv").exists()


def test_train_refuses_unusable_places_and_devices(tmp_path, capsys, monkeypatch):
    # The Trainer is built (it checks the device) but never trains.
    monkeypatch.setattr(Trainer, "train", lambda self: pytest.fail("training started"))
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, expected in (
        (a_file, "is a file, not a directory"),
        ("/dev/null", "is a file, not a directory"),
        (tmp_path / ("x" * 300), "cannot create the run directory"),
        (a_file / "run", "cannot create the run directory"),
    ):
        check(*run(capsys, "train", *S, f"out={out}"), expected)
    import torch

    if not torch.cuda.is_available():
        check(*run(capsys, "train", *S, "device=cuda", f"out={tmp_path / 'gpu'}"), "no CUDA GPU is visible")
        check(*run(capsys, "train", *S, "device=cuda:1", f"out={tmp_path / 'gpu1'}"), "no CUDA GPU is visible")
    # A pixel run whose replay cannot fit: refused before anything is allocated.
    monkeypatch.setattr("dormant.training.memory.mem_available", lambda: 4 * 2**30)
    check(*run(capsys, "train", "frames=1100000", f"out={tmp_path / 'big'}"), "lower replay.capacity")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run")
    Trainer(tiny_states(frames=3000), run_dir).train()
    return run_dir


def damaged_copies(finished_run, tmp_path):
    """Copies of the finished run, each with one file damaged: bytes flipped inside the largest
    tensor of the checkpoint, a config.yaml of plain text, a non-numeric cell in eval.csv of a
    killed run (no status.json), a cut status.json, a checksum that no longer matches."""
    import shutil
    import zipfile

    out = {}
    for name in ("tensor", "plain_config", "cell", "cut_status", "edited_config"):
        out[name] = tmp_path / name
        shutil.copytree(finished_run, out[name])
    data = bytearray((out["tensor"] / "checkpoint.pt").read_bytes())
    with zipfile.ZipFile(out["tensor"] / "checkpoint.pt") as archive:
        info = max(archive.infolist(), key=lambda i: i.file_size if "/data/" in i.filename else 0)
    at = info.header_offset + 30 + len(info.filename) + info.file_size // 2
    data[at : at + 200] = bytes(b ^ 0x33 for b in data[at : at + 200])
    (out["tensor"] / "checkpoint.pt").write_bytes(bytes(data))
    (out["plain_config"] / "config.yaml").write_text("a run on cartpole, see my notes\n")
    (out["cell"] / "status.json").unlink()
    lines = (out["cell"] / "eval.csv").read_bytes().split(b"\r\n")
    lines[1] = b"abc" + lines[1][lines[1].index(b",") :]
    (out["cell"] / "eval.csv").write_bytes(b"\r\n".join(lines))
    (out["cut_status"] / "status.json").write_text((out["cut_status"] / "status.json").read_text()[:30])
    config = out["edited_config"] / "config.yaml"
    config.write_text(config.read_text().replace("frames: 3000", "frames: 6000"))
    return out


def test_other_commands_refuse_bad_input(tmp_path, capsys, finished_run):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.pt").write_bytes(b"not a checkpoint")
    bad = damaged_copies(finished_run, tmp_path)
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    cases = [
        (["train", "--resume", str(tmp_path / "nowhere")], "no checkpoint"),
        (["train", "--resume", str(corrupt)], "not a readable dormant checkpoint"),
        (["train", "--resume", str(finished_run), "agent.lr=1"], "refused: agent.lr"),
        (["train", "--resume", str(finished_run), "frames=10"], "impossible budget"),
        (["train", "--resume", str(finished_run), "frames=2500"], "below the 3000 frames"),
        (["train", "--resume", str(finished_run), "frames=abc"], "expected int"),
        (["eval", str(tmp_path / "nowhere")], "no checkpoint"),
        (["eval", str(finished_run), "episodes=abc"], "expected int"),
        (["eval", str(finished_run), "episodes=-1"], "episodes must be ≥ 1, got -1"),
        (["eval", str(finished_run), "episodes=0"], "episodes must be ≥ 1, got 0"),
        (["eval", str(finished_run), "foo=1"], "eval accepts"),
        (["eval", str(corrupt)], "not a readable dormant checkpoint"),
        (["config", "task=x"], "unknown task"),
        (["config", "agent.lr=x"], "expected float"),
        (["report"], "needs a sweep directory"),
        (["report", str(tmp_path / "nowhere")], "does not exist"),
        (["report", str(finished_run), "reps=10"], "reps must be ≥ 100"),
        (["report", str(finished_run), "reps=abc"], "report options"),
        (["report", str(finished_run), "broken_fraction=2"], "broken_fraction"),
        (["report", str(finished_run), "foo=1"], "report accepts"),
        (["plot", str(tmp_path / "nowhere")], "has no train.csv or eval.csv"),
        (["train", "--resume", str(bad["tensor"]), "frames=6000"], "checkpoint.pt is damaged"),
        (["eval", str(bad["tensor"])], "checkpoint.pt is damaged"),
        (["report", str(bad["plain_config"])], "config.yaml: plain text"),
        (["report", str(bad["cell"])], "eval.csv, line 2, column 'frame': 'abc' is not a number"),
        (["report", str(bad["cut_status"])], "status.json: not valid JSON"),
        (["report", str(bad["edited_config"])], "does not match its checksum line"),
        (["report", str(finished_run), f"out={a_file}"], "is a file, not a directory"),
        (["plot", str(bad["cell"])], "eval.csv, line 2"),
        (["plot", str(bad["plain_config"])], "config.yaml: plain text"),
        (["sweep", f"out={finished_run}", *S], "a training run's directory"),
        (["sweep", f"out={finished_run / 'inside'}", *S], "is inside"),
        (["sweep", "agent=drqv2,,drm", *S, f"out={tmp_path / 's'}"], "has an empty item"),
        (["sweep", "agent=drqv2,drqv2", *S, f"out={tmp_path / 's'}"], "lists a value twice"),
        (["sweep", *S], "sweep needs out=DIR"),
        (["sweep", "jobs=0", *S, f"out={tmp_path / 's'}"], "jobs must be ≥ 1"),
        (["sweep", "backend=k8s", *S, f"out={tmp_path / 's'}"], "backend must be local or ray"),
        (["sweep", "seeds=0", *S, f"out={tmp_path / 's'}"], "seeds must be ≥ 1"),
        (["sweep", "seeds=2", "seed=1", *S, f"out={tmp_path / 's'}"], "not both"),
        (["sweep", "task=dmc/nope", *S, f"out={tmp_path / 's'}"], "unknown task"),
        (["sweep", "retries=-1", *S, f"out={tmp_path / 's'}"], "retries must be ≥ 0"),
        (["sweep", "address=x", *S, f"out={tmp_path / 's'}"], "address= is for backend=ray"),
        (["sweep", "frames=5", *S, f"out={tmp_path / 's'}"], "impossible budget"),
    ]
    for argv, expected in cases:
        check(*run(capsys, *argv), expected)


def test_report_on_a_run_with_a_corrupt_config_does_not_crash(tmp_path, capsys, finished_run):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(finished_run, broken)
    (broken / "config.yaml").write_text("task: [unclosed\n  : :")
    code = main(["report", str(broken), f"out={tmp_path / 'report'}"])
    captured = capsys.readouterr()
    # nothing usable: refused, naming the file, the line and what is wrong
    check(code, captured.err, "no run could be used")
    assert "config.yaml, line 2: not valid YAML" in captured.err
