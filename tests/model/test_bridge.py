import pytest
import torch

from idc_lite.model.bridge import BrownianBridge, dedupe_steps, make_schedule, official_sample_steps


def test_linear_schedule_values():
    s = make_schedule(4, "linear", 1.0)
    assert torch.allclose(s["m_t"], torch.tensor([0.001, 0.33366667, 0.66633333, 0.999]))
    assert torch.allclose(s["variance_t"], 2 * (s["m_t"] - s["m_t"] ** 2), atol=1e-6)
    assert s["m_tminus"][0] == 0 and s["variance_tminus"][0] == 0


def test_sin_schedule_and_max_var():
    s = make_schedule(10, "sin", 0.5)
    assert s["m_t"][-1] == pytest.approx(0.999) and bool((s["m_t"].diff() > 0).all())
    assert torch.allclose(s["variance_t"], (s["m_t"] - s["m_t"] ** 2), atol=1e-7)
    with pytest.raises(ValueError):
        make_schedule(4, "cosine")


def test_official_steps_and_the_noop_fix():
    assert official_sample_steps(4, 4) == [3, 1, 1, 0]
    assert dedupe_steps([3, 1, 1, 0]) == [3, 1, 0]
    assert official_sample_steps(1000, 200)[:3] == [999, 993, 988]
    assert official_sample_steps(4, 4, skip_sample=False) == [3, 2, 1, 0]


def test_q_sample_ends():
    b = BrownianBridge()
    x0, y, noise = torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    x_t, target = b.q_sample(x0, y, torch.tensor([0, 3]), noise)
    assert torch.allclose(x_t[0], torch.full((1, 4, 4), 0.001)) and torch.allclose(x_t[1], torch.full((1, 4, 4), 0.999))
    assert torch.allclose(b.predict_x0(x_t, y, torch.tensor([0, 3]), target), x0, atol=1e-6)


@pytest.mark.parametrize("objective", ["grad", "noise", "ysubx"])
def test_predict_x0_inverts_each_objective(objective):
    b = BrownianBridge(objective=objective)
    g = torch.Generator().manual_seed(0)
    x0, y, noise = (torch.randn(3, 1, 4, 4, generator=g) for _ in range(3))
    t = torch.tensor([0, 1, 2])   # at t = 3 'noise' divides by 1 - m_t = 0.001 and amplifies rounding
    x_t, target = b.q_sample(x0, y, t, noise)
    assert torch.allclose(b.predict_x0(x_t, y, t, target), x0, atol=1e-5)


def test_class_targets_match_grad_target_for_own_label_image():
    b = BrownianBridge()
    g = torch.Generator().manual_seed(1)
    labels_imgs = torch.randn(3, 1, 4, 4, generator=g)
    y, noise = torch.randn(2, 1, 4, 4, generator=g), torch.randn(2, 1, 4, 4, generator=g)
    t = torch.tensor([0, 2])
    x0 = labels_imgs[[2, 1]]
    per_class = b.class_targets(x0, labels_imgs, y, t, noise)
    _, target = b.q_sample(x0, y, t, noise)
    assert per_class.shape == (2, 3, 1, 4, 4)
    assert torch.equal(per_class[0, 2], target[0]) and torch.equal(per_class[1, 1], target[1])


def _toy_denoiser(x_t, t):
    return 0.5 * x_t + 0.01 * t.float().view(-1, 1, 1, 1)


def test_sampler_noise_explicit_and_reproducible():
    b = BrownianBridge()
    y = torch.rand(2, 1, 4, 4) * 2 - 1
    with pytest.raises(ValueError, match="exactly one"):
        b.sample(_toy_denoiser, y)
    r1 = b.sample(_toy_denoiser, y, generator=torch.Generator().manual_seed(5), return_trajectory=True)
    r2 = b.sample(_toy_denoiser, y, noise=r1.noise)
    assert len(r1.noise) == 3 and len(r1.trajectory) == 5 and len(r1.x0_predictions) == 4
    assert torch.equal(r1.x0, r2.x0) and torch.equal(r1.trajectory[0], y)
    r3 = b.sample(_toy_denoiser, y, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(r1.x0, r3.x0)
    with pytest.raises(ValueError, match="3 tensors"):
        b.sample(_toy_denoiser, y, noise=r1.noise[:2])


def test_noop_step_changes_nothing_and_fix_gives_same_output():
    # In exact arithmetic the 1 -> 1 step has zero variance and returns its input.  In float32 the
    # variance rounds to about 3e-8, so the step adds noise of std ~2e-4: a no-op up to rounding.
    y = torch.rand(3, 1, 4, 4) * 2 - 1
    for eta, tol in ((0.0, 1e-6), (1.0, 5e-3)):
        official, fixed = BrownianBridge(eta=eta), BrownianBridge(eta=eta, skip_noop_steps=True)
        r = official.sample(_toy_denoiser, y, generator=torch.Generator().manual_seed(0), return_trajectory=True)
        assert torch.allclose(r.trajectory[2], r.trajectory[1], atol=tol)
        f = fixed.sample(_toy_denoiser, y, noise=[r.noise[0], r.noise[2]])  # the no-op's draw is dropped
        assert torch.allclose(f.x0, r.x0, atol=tol)
    assert (official.num_network_calls, fixed.num_network_calls) == (4, 3)


def test_eta_zero_is_deterministic_and_gradients_flow():
    b = BrownianBridge(eta=0.0)
    y = (torch.rand(2, 1, 4, 4) * 2 - 1).requires_grad_(True)
    a = b.sample(_toy_denoiser, y, generator=torch.Generator().manual_seed(0)).x0
    c = b.sample(_toy_denoiser, y, generator=torch.Generator().manual_seed(1)).x0
    assert torch.equal(a, c)
    a.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()
