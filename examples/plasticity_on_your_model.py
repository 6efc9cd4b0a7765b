"""dormant.plasticity on a model that is not dormant's: a small CNN classifier.

Trains the CNN on a toy task (is the bright square in the left or the right half?) and,
along the way, measures and treats loss of plasticity with dormant's tools:

- dormant ratio of both kinds (DrM's τ = 0.025 on Linear layers; ReDo's on every ReLU),
  and the fraction of active units (FAU);
- ReDo: recycle τ-dormant neurons (incoming weights re-drawn, outgoing zeroed, Adam's
  moments of exactly those entries reset);
- shrink-and-perturb towards a fresh initialisation, and a full reset;
- the adaptive replay ratio's rule, fed with the FAU (here: how many updates per batch).

    .venv/bin/python examples/plasticity_on_your_model.py     # a few seconds on a CPU
"""

import torch
from torch import nn

from dormant.plasticity import (
    AdaptiveReplayRatio,
    dormant_ratio,
    fau,
    recycle_dormant_,
    reinitialise_,
    shrink_perturb_,
)

torch.manual_seed(0)
model = nn.Sequential(  # any nn.Module works; these probes find its Linear/Conv2d/ReLU layers themselves
    nn.Conv2d(1, 16, 3, stride=2),
    nn.ReLU(),
    nn.Conv2d(16, 16, 3),
    nn.ReLU(),
    nn.Flatten(),
    nn.Linear(16 * 5 * 5, 64),
    nn.ReLU(),
    nn.Linear(64, 2),
)
optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)


def batch(n: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """Images with one bright 3×3 square; the label says which half it is in."""
    images = torch.rand(n, 1, 15, 15) * 0.1
    labels = torch.randint(0, 2, (n,))
    cols = labels * 8 + torch.randint(0, 5, (n,))
    rows = torch.randint(0, 12, (n,))
    for i in range(n):
        images[i, 0, rows[i] : rows[i] + 3, cols[i] : cols[i] + 3] = 1.0
    return images, labels


def report(title: str) -> None:
    probe, _ = batch(256)
    drm_kind = dormant_ratio(model, probe, tau=0.025, kind="drm")  # Linear layers, after their activation
    redo_kind = dormant_ratio(model, probe, tau=0.1, kind="redo")  # every ReLU, ReDo's threshold
    print(
        f"{title:28s} DrM-kind β {drm_kind.ratio:.3f}  ReDo-kind {redo_kind.ratio:.3f}  "
        f"FAU {fau(model, probe).fraction:.3f}  per ReLU layer {redo_kind.per_layer}"
    )


replay_ratio = AdaptiveReplayRatio(low=1, high=2, check_every_episodes=5, tolerance=0.01)
report("fresh")
for epoch in range(20):
    for _ in range(replay_ratio.updates_due(epoch)):  # 1 update per batch until the FAU settles, then 2
        images, labels = batch()
        loss = nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        replay_ratio.observe(fau(model, images).fraction)
    if replay_ratio.on_episode_end(epoch + 1, frame=epoch + 1):
        print(f"epoch {epoch + 1}: the FAU settled; updates per batch now {replay_ratio.current}")
images, labels = batch(512)
accuracy = (model(images).argmax(1) == labels).float().mean().item()
print(f"accuracy after training: {accuracy:.2f} (loss {loss.item():.3f})")
report("trained")

recycled = recycle_dormant_(model, optimizer, batch(256)[0], tau=0.1)
print("ReDo recycled neurons per layer:", recycled)
report("after ReDo")

mixed = shrink_perturb_(model, 0.8, scope="all", optimizers=[optimizer])  # θ ← 0.8·θ + 0.2·φ, φ a fresh draw
print(f"shrink-and-perturb mixed {len(mixed)} parameter tensors")
report("after shrink-and-perturb")

reinitialise_(model)  # a reset: every layer re-drawn from its own initialiser
report("after a reset")
