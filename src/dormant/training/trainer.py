"""The training loop: acting, replay, updates, evaluation, logging, checkpoints.

No algorithm logic lives here. The loop has one *safe point* per agent step (after
an episode end is handled, before acting): checkpoints are taken there, and Ctrl-C,
the frame budget or an error stop the run there, so a resumed run continues exactly
where the interrupted one stopped (the simulator is rebuilt by replaying the open
episode's actions from its recorded start state).

Length: the loop and the hooks at its safe points (episode ends, task switches of continual
runs, evaluations, checkpoints, signals) are read together; what each hook does lives in its
own module (clock.py, continual.py, evaluation.py, checkpoint.py).
"""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dormant.agents import agent_for_env
from dormant.config import Config, diagnostics_taus
from dormant.envs import TimeStep, make_env
from dormant.envs.registry import needs_gl
from dormant.envs.rendering import configure_rendering
from dormant.envs.workers import make_env_group
from dormant.experiments.runfiles import config_text, log_digests, status_text
from dormant.interfaces import Env, PlasticAgent
from dormant.plasticity.diagnostics import agent_diagnostics
from dormant.replay import replay_for
from dormant.training.checkpoint import (
    FILENAME,
    CheckpointError,
    load_checkpoint,
    save_checkpoint,
    write_failure_message,
)
from dormant.training.clock import Counters, Periodic, PlasticityInterventions, crossed, make_replay_ratio
from dormant.training.continual import TaskSwitches
from dormant.training.device import resolve_device
from dormant.training.evaluation import evaluate
from dormant.training.files import RunWriteError, atomic_write_text, is_write_failure
from dormant.training.guard import StateGuard
from dormant.training.logger import RunLogger
from dormant.training.progress import Progress
from dormant.training.threads import run_threads

if TYPE_CHECKING:
    from dormant.training.callbacks import Callback


class NonFiniteLossError(RuntimeError):
    """An update produced NaN or inf; the agent was restored to its last good state."""


class Trainer:
    """One run: build it from a resolved config (``checkpoint``: resume from it), ``train()``.

    ``callbacks`` (``training.callbacks.Callback``) see episodes, evaluations and
    interventions as they happen and may stop the run early."""

    def __init__(
        self,
        cfg: Config,
        run_dir: Path,
        *,
        checkpoint: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        configure_rendering(needs_gl(cfg))  # before any simulator is imported
        self.threads, self.threads_why = run_threads(cfg)
        torch.set_num_threads(self.threads)
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        repeat = cfg.env.action_repeat
        self.total_steps = math.ceil(cfg.frames / repeat)
        self.seed_steps = cfg.num_seed_frames // repeat
        self.eval_every_steps = max(cfg.eval.every_frames // repeat, 1)
        self.checkpoint_every_steps = max(cfg.checkpoint_every_frames // repeat, 1)

        workers = cfg.env.workers
        self.env, self.envs = make_env_group(cfg)  # the env (or the workers, which look like one), the group
        self.eval_env: Env = make_env(cfg, seed=cfg.seed, evaluation=True)
        self.agent: PlasticAgent = agent_for_env(cfg, self.env, device=self.device)
        self.new_replay()
        self.switches = TaskSwitches(cfg) if cfg.continual.switch_every_frames else None  # continual runs
        self.replay_ratio = make_replay_ratio(cfg)
        self.interventions = PlasticityInterventions(cfg)
        self.interventions.sample_batch = lambda n: self.agent.to_batch(self.replay.sample(n))  # ReDo's scoring batch
        self._fau_index = self.agent.METRICS.index("critic_fau")
        continual = (["phase"], self.switches.eval_columns()) if self.switches else ([], [])
        self.logger = RunLogger(
            self.run_dir,
            (*self.agent.METRICS, "replay_ratio", "rr_switch_frame", *continual[0]),
            cfg.log.tensorboard,
            success=self.env.has_success,
            eval_extra=continual[1],
        )
        self.logger.start(cfg, self.device)  # environment.json, hparams, W&B (a missing extra fails here)
        self.counters = Counters(episode_steps=[0] * workers, episode_rewards=[0.0] * workers)
        self.metric_sum = np.zeros(len(self.agent.METRICS))
        self.metric_last = np.zeros(len(self.agent.METRICS))
        self.metric_count = 0
        self.elapsed_before = 0.0  # seconds trained before this process (resumed runs)
        self.guard = StateGuard()
        self.stop_requested = False
        self.stop_reason = ""
        self.last_eval: dict[str, Any] | None = None
        self.callbacks = list(callbacks)
        self._time_steps: list[TimeStep] = []  # one per environment worker (none: not started)
        self._episode_t0 = [0.0] * workers
        if checkpoint is not None:
            self._restore(checkpoint)
        (self.run_dir / (FILENAME + ".tmp")).unlink(missing_ok=True)  # left by a kill during a save
        atomic_write_text(self.run_dir / "config.yaml", config_text(cfg.to_yaml()))

    # --- time ------------------------------------------------------------
    @property
    def frame(self) -> int:
        return self.counters.step * self.cfg.env.action_repeat

    def _elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self._t0

    # --- the loop --------------------------------------------------------
    def train(self) -> str:
        """Run until the budget or a stop; returns 'finished' or 'interrupted'."""
        self._t0 = time.perf_counter()
        try:  # SIGTERM (a scheduler's preemption, a dying sweep) stops gracefully like a first Ctrl-C
            previous = {
                sig: signal.signal(sig, handler)
                for sig, handler in ((signal.SIGINT, self._on_sigint), (signal.SIGTERM, self._on_sigterm))
            }
        except ValueError:  # not the main thread (e.g. a worker): no Ctrl-C handling there
            previous = None
        progress = Progress(
            self.total_steps * self.cfg.env.action_repeat,
            enabled=self.cfg.log.progress,
            every_s=self.cfg.log.progress_every_s,
        )
        status = "failed"
        try:
            if not self._time_steps:
                self._time_steps = self._reset_episodes(range(self.envs.num_envs))
            progress.start(self.frame)
            self._episode_t0 = [time.perf_counter()] * self.envs.num_envs
            clocks = [
                (cb, Periodic(cb.every_frames, last=self.frame // cb.every_frames if cb.every_frames else 0))
                for cb in self.callbacks
            ]
            self._notify("on_train_start")
            while True:
                ended = [i for i, ts in enumerate(self._time_steps) if ts.last]
                if ended:
                    for i in ended:
                        self._finish_episode(i)
                    for i, ts in zip(ended, self._reset_episodes(ended), strict=True):
                        self._time_steps[i] = ts
                if self.stop_requested:
                    break
                if self.counters.step >= self.total_steps:
                    self._maybe_evaluate(progress, final=True)  # the curve's last point, at the budget
                    break
                self._maybe_checkpoint()
                self._maybe_evaluate(progress)
                if self.stop_requested:
                    continue
                self._act_and_learn()
                progress.update(self.frame)
                for callback, clock in clocks:
                    if clock.due(self.frame):
                        callback.on_frames(self)
            self.save()
            status = "finished" if self.counters.step >= self.total_steps else "interrupted"
        except NonFiniteLossError:
            status = "nonfinite"
            self.save()  # the agent is back at its last good state
            raise
        except (OSError, CheckpointError) as err:
            if not isinstance(err, CheckpointError) and not is_write_failure(err):
                raise
            status = "write_failed"
            raise RunWriteError(self._write_failure(err)) from None
        finally:
            progress.stop(self.frame)
            for sig, handler in (previous or {}).items():
                signal.signal(sig, handler)
            try:
                self.logger.close()
                self._write_status(status, sys.exc_info()[1] if status == "failed" else None)
            except OSError as err:
                if status == "finished":  # nothing failed before: this failure is the news
                    status = "write_failed"
                    raise RunWriteError(self._write_failure(err)) from None
                # otherwise the first error is on its way out; never hide it behind this one
        self._notify("on_train_end", status)
        return status

    def request_stop(self, reason: str = "") -> None:
        """End the run at the next safe point with a checkpoint (resumable), as Ctrl-C does."""
        if not self.stop_requested:
            self.stop_requested, self.stop_reason = True, reason
            print(f"stopping at the next safe point{': ' + reason if reason else ''}", flush=True)

    def _notify(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(self, *args)

    def _log_event(self, event: dict[str, Any]) -> None:
        row = {**self._row(), "updates": self.counters.updates, **event}
        self.logger.log("events", row)
        self._notify("on_intervention", row)

    def _write_failure(self, err: BaseException) -> str:
        saved = self.counters.last_checkpoint_step * self.cfg.env.action_repeat
        return write_failure_message(err, self.run_dir, stopped_frame=self.frame, saved_frame=saved)

    def close(self) -> None:
        """Release the simulators, their renderers and any worker processes (safe to call twice)."""
        for env in (self.envs, self.eval_env):
            env.close()

    def _on_sigint(self, signum: int, frame: Any) -> None:
        if self.stop_requested:  # second Ctrl-C: leave now, without saving
            raise KeyboardInterrupt
        self.stop_requested = True
        print(
            "\nCtrl-C: stopping at the next safe point and saving a checkpoint (press again to quit without saving)",
            flush=True,
        )

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        if not self.stop_requested:  # idempotent: repeated SIGTERMs never skip the checkpoint
            self.stop_requested = True
            print("\nSIGTERM: stopping at the next safe point and saving a checkpoint", flush=True)

    def new_replay(self) -> None:
        """An empty replay (at the start; at each task switch with continual.replay=reset)."""
        self.replay = replay_for(
            self.cfg,
            self.env,
            allocate_transitions=self.total_steps,
            horizon=self.agent.replay_horizon,
            device=self.device,
        )
        self.streams = self.replay.shards if self.cfg.env.workers > 1 else [self.replay]  # where worker i writes

    def _reset_episodes(self, indices: Sequence[int]) -> list[TimeStep]:
        """Start new episodes on these workers (in parallel when there are several), in a new
        phase of a continual run if a switch frame was reached."""
        if self.switches:
            self.switches.switch(self)
        indices = list(indices)
        steps = self.envs.reset_many(indices)
        for i, ts in zip(indices, steps, strict=True):
            self.streams[i].add(ts.frame, ts.action, ts.reward, ts.discount, first=True, last=False, proprio=ts.proprio)
            self.counters.episode_steps[i] = 0
            self.counters.episode_rewards[i] = 0.0
            self._episode_t0[i] = time.perf_counter()
        return steps

    def _act_and_learn(self) -> None:
        """One step of every environment worker. With N workers: N actions from the current
        policy (worker i acts as agent step ``step + i``), then the updates those N steps are
        due, then all workers step at once; so the updates per transition are exactly the
        single env's, and a worker acts on a policy at most N − 1 steps' updates old."""
        step = self.counters.step
        actions = self.agent.act_many(
            [ts.observation for ts in self._time_steps],  # one env: its act
            list(range(step, step + len(self._time_steps))),
            proprios=[ts.proprio for ts in self._time_steps],
        )
        for agent_step in range(step, step + len(actions)):
            if agent_step >= self.seed_steps and self.replay.can_sample():
                for _ in range(self.replay_ratio.updates_due(agent_step)):
                    self._update(agent_step)
        steps = self.envs.step(actions)
        if self.switches:  # a switch frame ends every episode
            self.switches.truncate(steps, self.frame + len(steps) * self.cfg.env.action_repeat)
        for i, ts in enumerate(steps):
            self.streams[i].add(
                ts.frame, ts.action, ts.reward, ts.discount, first=False, last=ts.last, proprio=ts.proprio
            )
            self.counters.episode_steps[i] += 1
            self.counters.episode_rewards[i] += ts.reward
        self.counters.step += len(steps)
        self._time_steps = steps

    def _update(self, step: int) -> None:
        batch = self.agent.to_batch(self.replay.sample(self.cfg.agent.batch_size))
        self.guard.snapshot(self.agent.live_tensors())
        values = self.agent.update(batch, step).cpu().numpy()  # the one host sync
        if not np.all(np.isfinite(values)):
            bad = [n for n, v in zip(self.agent.METRICS, values, strict=True) if not np.isfinite(v)]
            restored = self.guard.restore()
            raise NonFiniteLossError(
                f"non-finite {', '.join(bad)} at frame {self.frame} (agent step {step}); "
                + (
                    f"the agent was restored to its state before this update and saved to {self.run_dir / FILENAME}"
                    if restored
                    else "no earlier state to restore"
                )
                + ". Try a lower agent.lr or check the reward scale."
            )
        self.metric_sum += values
        self.metric_last = values
        self.metric_count += 1
        self.counters.updates += 1
        self.replay_ratio.observe(float(values[self._fau_index]))
        every = self.cfg.log.diagnostics_every_updates
        if every and self.counters.updates % every == 0:
            self.logger.log(
                "diagnostics",
                {
                    **self._row(),
                    "updates": self.counters.updates,
                    **agent_diagnostics(self.agent, batch, **diagnostics_taus(self.cfg)),
                },
            )
        for event in [
            *self.agent.drain_events(),
            *self.interventions.after_update(self.agent, batch, self.counters.updates, self.frame),
        ]:
            self._log_event(event)

    def _finish_episode(self, index: int) -> None:
        """Log worker ``index``'s finished episode (its ``fps``: that worker's own frames per second)."""
        self.counters.episode += 1
        seconds = max(time.perf_counter() - self._episode_t0[index], 1e-9)
        frames = self.counters.episode_steps[index] * self.cfg.env.action_repeat
        row = self._row(
            episode_reward=self.counters.episode_rewards[index],
            episode_length=frames,
            fps=frames / seconds,
            buffer_transitions=len(self.replay),
            replay_ratio=self.replay_ratio.current,
            rr_switch_frame=self.replay_ratio.switch_frame,
            episode_success=self._time_steps[index].success,
        )
        if self.metric_count:
            means = (self.metric_sum / self.metric_count).tolist()
            last = self.metric_last.tolist()
            row.update(
                {
                    name: last[i] if name in self.agent.METRICS_LAST else means[i]
                    for i, name in enumerate(self.agent.METRICS)
                }
            )
        self.metric_sum[:] = 0.0
        self.metric_count = 0
        self.logger.log("train", row)
        self._notify("on_episode_end", row)
        # after the row: it ran at the old ratio
        if self.replay_ratio.on_episode_end(self.counters.episode, self.frame):
            self._log_event(
                {
                    "event": "replay_ratio",
                    "count": self.replay_ratio.current,
                    "detail": f"critic FAU settled; replay ratio now {self.replay_ratio.current}",
                }
            )

    def _row(self, **values: Any) -> dict[str, Any]:
        return {
            "frame": self.frame,
            "step": self.counters.step,
            "episode": self.counters.episode,
            "elapsed_s": round(self._elapsed(), 3),
            **({"phase": self.switches.phase} if self.switches else {}),
            **values,
        }

    def _maybe_checkpoint(self) -> None:
        if crossed(self.counters.step, self.counters.last_checkpoint_step, self.checkpoint_every_steps):
            self.save()

    def _maybe_evaluate(self, progress: Progress, final: bool = False) -> None:
        """Every ``eval.every_frames``, and always at the end of the budget."""
        if self.cfg.eval.episodes <= 0:
            return
        step = self.counters.step
        off_schedule = not crossed(step, self.counters.last_eval_step, self.eval_every_steps)
        if step == self.counters.last_eval_step or (off_schedule and not final):
            return
        rng_before = self.eval_env.rng_state()
        result = self.evaluate(self.cfg.eval.episodes, video=self.cfg.eval.video)
        if result is None:  # interrupted: it runs again after resuming
            return
        if off_schedule:
            # The end-of-budget evaluation leaves the evaluation episodes' random stream as
            # it found it, so a run extended later evaluates exactly as an uninterrupted one.
            self.eval_env.set_rng_state(rng_before)
        self.counters.last_eval_step = step
        self.last_eval = self._row(**result)
        self.logger.log("eval", self.last_eval)
        success = f", success rate {result['success_rate']:.0%}" if "success_rate" in result else ""
        progress.note(
            f"eval frame {self.frame}: return {result['episode_reward']:.1f} "
            f"± {result['episode_reward_std']:.1f} over {self.cfg.eval.episodes} episodes{success}",
            last_eval=f"last eval return {result['episode_reward']:.1f}{success} at frame {self.frame}",
        )
        self._notify("on_eval", self.last_eval)

    # --- evaluation ------------------------------------------------------
    def evaluate(self, episodes: int, *, video: bool = False) -> dict[str, float] | None:
        """Mean-action episodes on the evaluation env; None if Ctrl-C cut it short."""
        rng_before = self.eval_env.rng_state()

        def run(video: bool) -> dict[str, float] | None:
            return evaluate(
                self.agent,
                self.eval_env,
                episodes,
                step=self.counters.step,
                action_repeat=self.cfg.env.action_repeat,
                should_stop=lambda: self.stop_requested,
                video_path=self.run_dir / "videos" / f"eval_{self.frame}.mp4" if video else None,
            )

        # a continual run: the current task and every earlier one
        result = self.switches.evaluate(self.eval_env, self.frame, run, video) if self.switches else run(video)
        if result is None:
            self.eval_env.set_rng_state(rng_before)
        return result

    # --- checkpoints -----------------------------------------------------
    def save(self) -> Path:
        """Checkpoint everything a resume needs (call at a safe point only)."""
        path = self.run_dir / FILENAME
        c = self.counters
        save_checkpoint(
            path,
            {
                "config": self.cfg.to_dict(),
                "agent": self.agent.state_dict(),
                "replay": self.replay.state_dict(),
                "counters": {**c.__dict__, "last_checkpoint_step": c.step},
                "metric_sum": torch.from_numpy(self.metric_sum.copy()),
                "metric_count": self.metric_count,
                "metric_last": torch.from_numpy(np.asarray(self.metric_last, np.float64).copy()),
                "elapsed_s": self._elapsed() if hasattr(self, "_t0") else self.elapsed_before,
                "rng": {
                    "torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                },
                "env": {
                    "episode_start": self.envs.episode_start_state(0),
                    "eval": self.eval_env.rng_state(),
                    "episode_starts": [self.envs.episode_start_state(i) for i in range(self.envs.num_envs)],
                },
                "plasticity": {
                    "replay_ratio": self.replay_ratio.state_dict(),
                    "interventions": self.interventions.state_dict(),
                },
                "log_rows": self.logger.row_counts(),
            },
        )
        c.last_checkpoint_step = c.step
        return path

    def _restore(self, ckpt: dict[str, Any]) -> None:
        self.agent.load_state_dict(ckpt["agent"])
        self.replay.load_state_dict(ckpt["replay"])
        self.counters = Counters.from_checkpoint(ckpt["counters"])
        self.metric_sum = ckpt["metric_sum"].numpy().astype(np.float64).copy()
        self.metric_count = int(ckpt["metric_count"])
        self.metric_last = ckpt["metric_last"].numpy().copy()
        self.elapsed_before = float(ckpt["elapsed_s"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if ckpt["rng"]["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        self.eval_env.set_rng_state(ckpt["env"]["eval"])
        self.replay_ratio.load_state_dict(ckpt["plasticity"]["replay_ratio"])
        self.interventions.load_state_dict(ckpt["plasticity"]["interventions"], updates=self.counters.updates)
        starts = ckpt["env"].get("episode_starts", [ckpt["env"]["episode_start"]])
        if self.switches:
            self.switches.follow(self.envs, self.frame)
        self._time_steps = []
        for i, (stream, start) in enumerate(zip(self.streams, starts, strict=True)):
            actions, frames = stream.open_episode()
            if not frames or start is None:
                raise ValueError("checkpoint has no open episode to resume from")
            self._time_steps.append(self.envs.restore_episode(i, start, actions, frames))
        self.logger.resume(self.frame, ckpt.get("log_rows"))

    def _write_status(self, status: str, error: BaseException | None = None) -> None:
        info = {
            "status": status,
            **({"stop_reason": self.stop_reason} if self.stop_reason else {}),
            **({"error": f"{type(error).__name__}: {error}"} if error is not None else {}),
            "frame": self.frame,
            "step": self.counters.step,
            "total_frames": self.total_steps * self.cfg.env.action_repeat,
            "episodes": self.counters.episode,
            "elapsed_s": round(self._elapsed(), 3),
            # a resume keeps these logs' bytes whole (it cuts only past its checkpoint): readers verify them
            **({"logs": log_digests(self.run_dir)} if status in ("finished", "interrupted") else {}),
        }
        atomic_write_text(self.run_dir / "status.json", status_text(info))


def load_trainer(run_dir: Path, cfg: Config) -> Trainer:
    return Trainer(cfg, run_dir, checkpoint=load_checkpoint(Path(run_dir) / FILENAME))
