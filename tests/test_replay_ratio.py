"""Static and adaptive replay ratios (Ma et al. 2024) on synthetic FAU series."""

from fractions import Fraction

import pytest

from dormant.plasticity import AdaptiveReplayRatio, ReplayRatio, parse_replay_ratio


def due(ratio, steps):
    return [ratio.updates_due(s) for s in range(steps)]


def test_static_ratios():
    assert due(ReplayRatio("0.5"), 6) == [1, 0, 1, 0, 1, 0]  # DrQ-v2: step % 2 == 0
    assert due(ReplayRatio("1/4"), 9) == [1, 0, 0, 0, 1, 0, 0, 0, 1]
    assert due(ReplayRatio(1), 3) == [1, 1, 1]
    assert due(ReplayRatio(2), 3) == [2, 2, 2]
    assert due(ReplayRatio("3/2"), 4) == [2, 1, 2, 1]
    assert sum(due(ReplayRatio("0.3"), 1000)) == 300  # exact on average, no drift
    assert parse_replay_ratio("0.25") == parse_replay_ratio("1/4") == Fraction(1, 4)
    for bad in ("abc", "0", "-1", "1/0", ""):
        with pytest.raises(ValueError, match="replay ratio"):
            parse_replay_ratio(bad)


def feed(rr, episode_means, episodes_per_check=50, updates_per_episode=3):
    """Run episodes whose updates report the given mean FAU; return the switch episodes."""
    switches = []
    episode = 0
    for mean in episode_means:
        for _ in range(episodes_per_check):
            episode += 1
            for offset in (-0.01, 0.0, 0.01)[:updates_per_episode]:
                rr.observe(mean + offset)
            if rr.on_episode_end(episode, frame=episode * 1000):
                switches.append(episode)
    return switches


def test_adaptive_switches_once_at_the_first_settled_check():
    rr = AdaptiveReplayRatio()  # 0.5 → 2, every 50 episodes, |ΔFAU| ≤ 0.001
    assert rr.current == 0.5 and due(rr, 2) == [1, 0]
    # Check means: 0.60 (first: nothing to compare), 0.55 (Δ .05), 0.5495 (Δ .0005: switch), ...
    switches = feed(rr, [0.60, 0.55, 0.5495, 0.5495, 0.40])
    assert switches == [150]
    assert rr.switch_frame == 150_000 and rr.current == 2.0 and due(rr, 2) == [2, 2]
    assert [round(m, 6) for _, m in rr.checks] == [0.60, 0.55, 0.5495]  # no checks after the switch


def test_adaptive_never_switches_while_fau_keeps_moving_and_boundary_is_inclusive():
    rr = AdaptiveReplayRatio()
    assert feed(rr, [0.60, 0.58, 0.56, 0.54]) == [] and rr.current == 0.5
    exact = AdaptiveReplayRatio(tolerance=0.25)
    assert feed(exact, [0.5, 0.75], updates_per_episode=1) == [100]  # |Δ| = 0.25 exactly: switches


def test_adaptive_state_round_trip():
    rr = AdaptiveReplayRatio(check_every_episodes=2)
    feed(rr, [0.5], episodes_per_check=3)
    copy = AdaptiveReplayRatio(check_every_episodes=2)
    copy.load_state_dict(rr.state_dict())
    assert copy.state_dict() == rr.state_dict()
    with pytest.raises(ValueError):
        AdaptiveReplayRatio(check_every_episodes=0)
