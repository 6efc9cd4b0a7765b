"""Networks, initialisation, policy sampling and augmentation (DrQ-v2 reference architecture)."""

import pytest
import torch
from torch import nn

from dormant.nets import (
    Actor,
    Critic,
    PixelEncoder,
    StateEncoder,
    normal_log_prob,
    random_shift,
    random_shift_grid_sample,
    sample_action,
    weight_init,
)

LIMIT = torch.tensor(1.0 - 1e-6, dtype=torch.float32)  # the final clamp, in float32


# --- shapes --------------------------------------------------------------------------
def test_pixel_encoder_shapes():
    enc = PixelEncoder((9, 84, 84))
    # 84 →(3×3, stride 2) (84−3)//2+1 = 41 → 39 → 37 → 35;  35·35·32 = 39,200
    assert enc.repr_dim == 39_200
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(32, 9, 3, 3)] + [(32, 32, 3, 3)] * 3
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1), (1, 1)]
    assert all(c.padding == (0, 0) for c in convs)
    obs = torch.randint(0, 256, (2, 9, 84, 84), dtype=torch.uint8).float()
    with torch.no_grad():
        h = enc(obs)
    assert h.shape == (2, 39_200)
    assert torch.all(h >= 0)  # last layer is a ReLU


def test_pixel_encoder_normalises_input():
    enc = PixelEncoder((3, 84, 84))
    first = enc.convnet[0]
    # x/255 − 0.5 of a constant 127.5 image is exactly 0, so the first conv outputs its bias (0)
    with torch.no_grad():
        out = first(torch.full((1, 3, 84, 84), 127.5) / 255.0 - 0.5)
        h = enc(torch.full((1, 3, 84, 84), 127.5))
    assert torch.count_nonzero(out) == 0
    assert torch.count_nonzero(h) == 0  # zero in → zero out (all biases 0)


def test_actor_and_critic_shapes():
    actor = Actor(repr_dim=100, action_dim=6, feature_dim=50, hidden_dim=64)
    assert [tuple(m.weight.shape) for m in actor.modules() if isinstance(m, nn.Linear)] == [
        (50, 100),
        (64, 50),
        (64, 64),
        (6, 64),
    ]
    assert isinstance(actor.trunk[1], nn.LayerNorm) and isinstance(actor.trunk[2], nn.Tanh)
    mean = actor(torch.randn(4, 100))
    assert mean.shape == (4, 6) and torch.all(mean.abs() <= 1)  # tanh(mean)

    critic = Critic(repr_dim=100, action_dim=6, feature_dim=50, hidden_dim=64)
    # heads take concat(trunk(h), a): 50 + 6 = 56 inputs
    for head in (critic.q1, critic.q2):
        assert [tuple(m.weight.shape) for m in head if isinstance(m, nn.Linear)] == [(64, 56), (64, 64), (1, 64)]
    q1, q2 = critic(torch.randn(4, 100), torch.rand(4, 6) * 2 - 1)
    assert q1.shape == (4, 1) and q2.shape == (4, 1)
    assert not torch.equal(q1, q2)  # separately initialised heads


# --- initialisation -------------------------------------------------------------------
def test_linear_init_orthogonal_gain_one():
    torch.manual_seed(0)
    actor = Actor(repr_dim=100, action_dim=6, feature_dim=50, hidden_dim=64)
    for lin in (actor.trunk[0], actor.policy[2], actor.policy[4]):  # all have out ≤ in
        w = lin.weight.detach().double()
        assert torch.allclose(w @ w.T, torch.eye(w.shape[0], dtype=torch.float64), atol=1e-5)
    lin = actor.policy[0]  # 50 → 64: out > in, so the columns are orthonormal
    w = lin.weight.detach().double()
    assert torch.allclose(w.T @ w, torch.eye(w.shape[1], dtype=torch.float64), atol=1e-5)


def test_conv_init_orthogonal_gain_sqrt2():
    torch.manual_seed(0)
    enc = PixelEncoder((9, 84, 84))
    for conv in (m for m in enc.modules() if isinstance(m, nn.Conv2d)):
        w = conv.weight.detach().double().flatten(1)  # 32 × (C·9), 32 ≤ C·9
        sv = torch.linalg.svdvals(w)
        # calculate_gain('relu') = √2 = 1.41421356…, every singular value equals the gain
        assert torch.allclose(sv, torch.full_like(sv, 1.4142135623730951), atol=1e-5)


def test_biases_zero_and_layernorm_default():
    modules = [PixelEncoder((3, 84, 84)), Actor(40, 3, 8, 16), Critic(40, 3, 8, 16)]
    for net in modules:
        for m in net.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                assert torch.count_nonzero(m.bias) == 0
            if isinstance(m, nn.LayerNorm):
                assert torch.all(m.weight == 1) and torch.count_nonzero(m.bias) == 0


def test_weight_init_leaves_other_modules_alone():
    ln = nn.LayerNorm(4)
    with torch.no_grad():
        ln.weight.fill_(3.0)
    weight_init(ln)
    assert torch.all(ln.weight == 3.0)


def test_state_encoder_is_identity():
    enc = StateEncoder((5,))
    assert enc.repr_dim == 5
    x = torch.tensor([[1, 2, 3, 4, 5]], dtype=torch.float64)
    assert enc(x).dtype == torch.float32
    assert torch.equal(enc(x), torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0]]))
    assert list(enc.parameters()) == []


# --- policy sampling -----------------------------------------------------------------
def test_sample_action_clip_bounds_noise():
    torch.manual_seed(0)
    mean = torch.zeros(2000)
    a = sample_action(mean, std=1e6, clip=0.3)
    # |ε·σ| ≫ 0.3 almost surely, so every sample sits on ±0.3 exactly
    assert torch.allclose(a.abs(), torch.full_like(a, 0.3))
    assert (a > 0).any() and (a < 0).any()
    # a small σ is not clipped: |ε·0.01| < 0.3 for any plausible ε
    b = sample_action(torch.full((2000,), 0.2), std=0.01, clip=0.3)
    assert torch.all((b - 0.2).abs() < 0.1) and b.std() > 0.005


def test_sample_action_final_clamp():
    torch.manual_seed(0)
    a = sample_action(torch.zeros(2000), std=1e6, clip=None)
    assert torch.all(a.abs() == LIMIT)  # clamped to ±(1 − 1e−6)
    # clip larger than the action range: noise ±5 then the clamp
    b = sample_action(torch.tensor([0.9, -0.9]), std=1e6, clip=5.0)
    assert torch.all(b.abs() == LIMIT)
    # σ = 0 returns the mean itself
    mean = torch.tensor([0.25, -0.5, 0.0])
    assert torch.equal(sample_action(mean, std=0.0, clip=0.3), mean)


def test_sample_action_straight_through_gradient():
    torch.manual_seed(0)
    mean = torch.tensor([0.9, 0.0, -0.95, 0.1], requires_grad=True)
    a = sample_action(mean, std=1e6, clip=None)  # all four end up clamped
    assert torch.all(a.detach().abs() == LIMIT)
    a.sum().backward()
    # d action / d mean = 1 even where clamped (straight-through)
    assert torch.equal(mean.grad, torch.ones(4))

    mean2 = torch.tensor([0.2, -0.3], requires_grad=True)
    (sample_action(mean2, std=0.1, clip=0.3) * torch.tensor([2.0, -3.0])).sum().backward()
    assert torch.equal(mean2.grad, torch.tensor([2.0, -3.0]))


# --- log-prob --------------------------------------------------------------------------
def test_normal_log_prob_worked_example():
    action = torch.tensor([[0.5, -0.2]])
    mean = torch.tensor([[0.1, 0.0]])
    # σ = 0.5, σ² = 0.25: per dim −d²/(2σ²) − ln σ − ½ ln 2π
    # d = (0.4, −0.2): −(0.16 + 0.04)/0.5 = −0.4;  −2 ln 0.5 = +1.38629436;  −ln 2π = −1.83787707
    # total = −0.4 + 1.38629436 − 1.83787707 = −0.85158271
    lp = normal_log_prob(action, mean, 0.5)
    assert lp.shape == (1, 1)
    assert lp.item() == pytest.approx(-0.85158271, abs=1e-6)
    # at the mean with σ = 1, each dim gives −½ ln 2π = −0.91893853; three dims: −2.75681559
    lp1 = normal_log_prob(torch.zeros(2, 3), torch.zeros(2, 3), 1.0)
    assert torch.allclose(lp1, torch.full((2, 1), -2.75681559))


# --- random shift ----------------------------------------------------------------------
def _img4():
    # x[r, c] = 4r + c:  [[0,1,2,3],[4,5,6,7],[8,9,10,11],[12,13,14,15]]
    return torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)


@pytest.mark.parametrize(
    "shift, expected",
    [
        # pad 1, replicate: crop starts at padded (row 0, col 0) = original (−1, −1) → clamp
        # rows (0,0,1,2) × cols (0,0,1,2)
        ((0, 0), [[0, 0, 1, 2], [0, 0, 1, 2], [4, 4, 5, 6], [8, 8, 9, 10]]),
        ((1, 1), [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]),  # identity
        # rows (1,2,3,3) × cols (1,2,3,3)
        ((2, 2), [[5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15], [13, 14, 15, 15]]),
        # shift is (x, y): x = 2 moves columns only → rows (0,0,1,2) × cols (1,2,3,3)
        ((2, 0), [[1, 2, 3, 3], [1, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11]]),
    ],
)
def test_random_shift_hand_example(shift, expected):
    shifts = torch.tensor([shift])
    want = torch.tensor(expected, dtype=torch.float32).view(1, 1, 4, 4)
    assert torch.equal(random_shift(_img4(), pad=1, shifts=shifts), want)
    got_ref = random_shift_grid_sample(_img4(), shifts, pad=1)
    assert (got_ref - want).abs().max() < 1e-4


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_random_shift_matches_grid_sample(dtype):
    torch.manual_seed(0)
    x = torch.rand(16, 3, 20, 20, dtype=dtype)  # images in [0, 1]
    shifts = torch.randint(0, 9, (16, 2))
    fast = random_shift(x, pad=4, shifts=shifts)
    ref = random_shift_grid_sample(x, shifts, pad=4)
    assert fast.shape == x.shape
    assert (fast - ref).abs().max() < 1e-4


def test_random_shift_full_size_matches_grid_sample():
    torch.manual_seed(1)
    x = torch.randint(0, 256, (4, 9, 84, 84)).double()  # pixel values 0..255
    shifts = torch.randint(0, 9, (4, 2))
    # float64: the bilinear grid lands on pixel centres up to ~1e−13, so the crops agree
    assert (random_shift(x, shifts=shifts) - random_shift_grid_sample(x, shifts)).abs().max() < 1e-4
    # float32 (as in training): the reference's grid carries ~1e−5 relative rounding, so
    # compare relative to the 255 range rather than absolutely
    x32 = x.float()
    diff = (random_shift(x32, shifts=shifts) - random_shift_grid_sample(x32, shifts)).abs().max()
    assert diff < 255 * 1e-4


def test_random_shift_default_draws_integer_shifts_in_range():
    torch.manual_seed(0)
    x = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    out = random_shift(x, pad=1)
    # every output is one of the 9 crops (shifts 0..2 on each axis); values stay in the image
    crops = {
        tuple(random_shift(x[:1], pad=1, shifts=torch.tensor([[sx, sy]])).flatten().tolist())
        for sx in range(3)
        for sy in range(3)
    }
    seen = {tuple(o.flatten().tolist()) for o in out}
    assert seen <= crops and len(seen) > 1


def test_random_shift_on_uint8_equals_shift_on_float():
    """The agent shifts uint8 frames before converting; the crop must not depend on dtype."""
    x = torch.randint(0, 256, (5, 9, 84, 84), dtype=torch.uint8)
    shifts = torch.randint(0, 9, (5, 2))
    assert torch.equal(random_shift(x, shifts=shifts).float(), random_shift(x.float(), shifts=shifts))
