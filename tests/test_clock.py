"""One rule for periodic work (``training.clock.Periodic``), shared by DrM's perturbation
and the plasticity interventions, and kept across checkpoints."""

from dormant.config import resolve
from dormant.training.clock import Periodic, PlasticityInterventions
from test_drm import batch, tiny_agent


def test_periodic_fires_at_the_first_check_at_or_after_each_multiple_and_never_catches_up():
    clock = Periodic(10)
    fired = [now for now in (0, 5, 10, 12, 19, 35, 39, 40, 41) if clock.due(now)]
    assert fired == [10, 35, 40]  # 35 passes 20 and 30: one firing, the two periods are skipped
    assert (clock.last, clock.count) == (4, 3)
    resumed = Periodic(10)
    resumed.load_state_dict(clock.state_dict())
    assert [now for now in (45, 49, 50) if resumed.due(now)] == [50]
    assert not any(Periodic(0).due(now) for now in (0, 1, 10**9))  # period 0: off


def test_drm_perturbation_uses_the_shared_rule_no_catch_up_after_a_jump():
    agent = tiny_agent(perturb_every_frames=20)  # action_repeat 2: frame = 2·step
    agent.update(batch(), step=0)
    agent.update(batch(), step=40)  # frame 80: four periods passed, one perturbation
    assert agent.perturbs_done == 1
    agent.update(batch(), step=42)
    assert agent.perturbs_done == 1
    agent.update(batch(), step=50)  # frame 100: the next multiple
    assert agent.perturbs_done == 2


def test_drm_clock_survives_a_checkpoint_and_reads_the_old_counter():
    agent = tiny_agent(perturb_every_frames=20)
    for step in (10, 20):
        agent.update(batch(), step=step)
    state = agent.state_dict()
    restored = tiny_agent(perturb_every_frames=20)
    restored.load_state_dict(state)
    assert restored.perturb_clock == agent.perturb_clock
    restored.update(batch(), step=22)  # frame 44 < 60: nothing is repeated
    assert restored.perturbs_done == 2
    old = dict(state, drm_state={k: v for k, v in state["drm_state"].items() if k != "perturb_clock"})
    old["drm_state"]["perturbs_done"] = 2  # the field checkpoints had before the shared clock
    legacy = tiny_agent(perturb_every_frames=20)
    legacy.load_state_dict(old)
    assert (legacy.perturb_clock.last, legacy.perturb_clock.count) == (2, 2)


def test_interventions_follow_the_same_rule_and_checkpoint_their_clocks(monkeypatch):
    import dormant.training.clock as clock

    calls = []
    monkeypatch.setattr(clock, "reset_agent_", lambda agent, scope, nets: calls.append(("reset", scope)) or ["actor.q"])
    monkeypatch.setattr(
        clock, "shrink_perturb_agent_", lambda agent, alpha, scope, nets: calls.append(("sp", alpha)) or ["actor"]
    )
    cfg = resolve(
        {
            "task": "dmc/cartpole_balance",
            "obs": "states",
            "plasticity.reset_every_frames": "1000",
            "plasticity.shrink_perturb_every_frames": "3000",
        }
    )
    interventions = PlasticityInterventions(cfg)
    events = interventions.after_update(None, {}, updates=1, frame=3500)  # first update after 3 reset periods
    assert [e["event"] for e in events] == ["reset_heads", "shrink_perturb"] and events[0]["count"] == 1
    assert interventions.after_update(None, {}, updates=2, frame=3900) == []
    resumed = PlasticityInterventions(cfg)
    resumed.load_state_dict(interventions.state_dict(), updates=2)
    assert [e["event"] for e in resumed.after_update(None, {}, updates=3, frame=4000)] == ["reset_heads"]
    legacy = PlasticityInterventions(cfg)  # a checkpoint from before the shared clock
    legacy.load_state_dict({"resets_done": 3, "shrink_perturbs_done": 1}, updates=2)
    assert {k: v for k, v in legacy.state_dict().items() if not k.endswith("_at")} == {
        "redo": {"last": 0, "count": 0},
        "reset": {"last": 3, "count": 3},
        "shrink_perturb": {"last": 1, "count": 1},
    }
