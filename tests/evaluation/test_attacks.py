import pytest
import torch
from torch import nn

from conftest import Linear, tiny_config
from idc_lite.evaluation.attacks import (
    BPDA,
    FixedNoise,
    PGDSettings,
    attack_loss,
    cw_l2,
    fgsm,
    loss_and_grad,
    margin,
    mi_fgsm,
    pgd,
    pgd_linf,
    project,
    square_linf,
)
from idc_lite.model.classifier import IDCClassifier


@pytest.fixture
def setup():
    model = Linear()
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(x).argmax(1)      # clean accuracy 100 % by construction
    return model, x, labels


def accuracy(model, x, labels):
    with torch.no_grad():
        return float((model(x, generator=torch.Generator().manual_seed(9)).argmax(1) == labels).float().mean())


def test_margin_and_losses():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    labels = torch.tensor([0, 0])
    assert torch.allclose(margin(logits, labels), torch.tensor([-1.0, 3.0]))
    assert attack_loss(logits, labels, "ce").shape == (2,)
    with pytest.raises(ValueError):
        attack_loss(logits, labels, "hinge")


def test_projection_respects_both_norms():
    x = torch.full((2, 1, 4, 4), 0.5)
    far = x + torch.randn(2, 1, 4, 4)
    assert float((project(far, x, 0.1, "Linf") - x).abs().max()) <= 0.1 + 1e-7
    l2 = (project(far, x, 0.3, "L2") - x).flatten(1).norm(dim=1)
    assert bool((l2 <= 0.3 + 1e-6).all())


@pytest.mark.parametrize("norm, eps, alpha", [("Linf", 0.3, 0.05), ("L2", 3.0, 0.5)])
def test_pgd_drives_a_linear_model_to_zero(setup, norm, eps, alpha):
    model, x, labels = setup
    x_adv = pgd(model, x, labels, PGDSettings(eps=eps, alpha=alpha, steps=20, norm=norm, restarts=2),
                torch.Generator().manual_seed(0))
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "Linf" else delta.norm(dim=1)
    assert bool((size <= eps + 1e-5).all()) and x_adv.min() >= 0 and x_adv.max() <= 1
    assert accuracy(model, x_adv, labels) == 0.0


def test_iterative_beats_single_step_and_zero_eps_changes_nothing(setup):
    model, x, labels = setup
    g = torch.Generator().manual_seed(0)
    one = accuracy(model, fgsm(model, x, labels, 0.05, g), labels)
    many = accuracy(model, pgd(model, x, labels, PGDSettings(eps=0.05, alpha=0.01, steps=20), g), labels)
    assert many <= one < 1.0
    same = pgd(model, x, labels, PGDSettings(eps=0.0, alpha=0.01, steps=3), g)
    assert torch.equal(same, x)


def test_mi_fgsm_cw_and_square(setup):
    model, x, labels = setup
    g = torch.Generator().manual_seed(0)
    x_mi = mi_fgsm(model, x, labels, 0.3, 0.05, 10, g)
    assert float((x_mi - x).abs().max()) <= 0.3 + 1e-6 and accuracy(model, x_mi, labels) == 0.0
    x_cw = cw_l2(model, x, labels, g, c=10.0, steps=200, lr=0.05)
    found = (model(x_cw).argmax(1) != labels)
    assert float(found.float().mean()) > 0.9
    assert bool(((x_cw - x).flatten(1).norm(dim=1)[~found] == 0).all())   # not found: x itself
    x_sq = square_linf(model, x, labels, 0.3, 300, g)
    assert float((x_sq - x).abs().max()) <= 0.3 + 1e-6
    assert accuracy(model, x_sq, labels) < 0.5


def test_pgd_linf_teaching_version_matches_budget_and_refuses_options(setup):
    model, x, labels = setup
    x_adv = pgd_linf(model, x, labels, PGDSettings(eps=0.1, alpha=0.02, steps=10), torch.Generator().manual_seed(0))
    assert float((x_adv - x).abs().max()) <= 0.1 + 1e-6 and accuracy(model, x_adv, labels) < 0.5
    with pytest.raises(ValueError, match="use pgd"):
        pgd_linf(model, x, labels, PGDSettings(eot_samples=5), torch.Generator())


def test_eot_averages_gradients_over_fresh_noise():
    model = Linear(noise_std=1.0)
    x = torch.rand(4, 1, 8, 8)
    labels = torch.tensor([0, 1, 2, 3])
    _, g1 = loss_and_grad(model, x, labels, "ce", torch.Generator().manual_seed(0), eot_samples=1)
    _, g2 = loss_and_grad(model, x, labels, "ce", torch.Generator().manual_seed(1), eot_samples=1)
    _, g12 = loss_and_grad(model, x, labels, "ce", torch.Generator().manual_seed(0), eot_samples=2)
    assert not torch.allclose(g1, g2) and not torch.allclose(g12, g1)


@pytest.mark.parametrize("rows_per_call, calls", [(512, [12]), (8, [8, 4]), (3, [4, 4, 4])])
def test_eot_draws_go_through_the_model_together_and_average_each_copys_own_gradient(rows_per_call, calls, monkeypatch):
    """Three draws on four images: one call of 12 rows (copy k of image i at row 4k + i), or as many calls as the
    rows allowed per call need (at least one draw a call); loss and gradient are the mean over the copies, each
    computed with the noise of its own row."""
    from idc_lite.evaluation.attacks import core

    monkeypatch.setattr(core, "EOT_BATCH_ROWS", rows_per_call)
    model, x, labels = Linear(noise_std=1.0, record_noise=True), torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3])
    loss, grad = loss_and_grad(model, x, labels, "ce", torch.Generator().manual_seed(0), eot_samples=3)
    assert [len(n) for n in model.noise] == calls
    noise = torch.cat(model.noise).view(3, 4, 4)
    copies = x.clone().requires_grad_(True)
    each = [nn.functional.cross_entropy(copies.flatten(1) @ model.weight.T + noise[k], labels, reduction="none")
            for k in range(3)]
    expected_loss = torch.stack(each).mean(0)
    (expected_grad,) = torch.autograd.grad(expected_loss.sum(), copies)
    assert torch.allclose(loss, expected_loss.detach(), atol=1e-6) and torch.allclose(grad, expected_grad, atol=1e-6)


def test_fixed_noise_wrapper_ignores_the_attackers_generator():
    model = FixedNoise(Linear(noise_std=1.0), seed=3)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(model(x, generator=torch.Generator().manual_seed(0)), model(x, generator=torch.Generator().manual_seed(1)))


def test_bpda_is_straight_through_the_sampler():
    torch.manual_seed(0)
    idc = IDCClassifier(tiny_config())
    idc.unet.reset_parameters(0)
    idc.eval()
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    bpda = BPDA(idc)
    logits = bpda(x, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(logits, idc(x, generator=torch.Generator().manual_seed(4)), atol=1e-6)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(bpda(xg, generator=torch.Generator().manual_seed(4))[:, 0].sum(), xg)
    from idc_lite.model.classifier import to_image_scale
    with torch.no_grad():
        purified = to_image_scale(idc.sample(x, generator=torch.Generator().manual_seed(4)).x0)
    p = purified.clone().requires_grad_(True)
    (expected,) = torch.autograd.grad((-idc.distances_to_label_images(p) / idc.config.tau)[:, 0].sum(), p)
    assert torch.allclose(grad, expected)


def test_hand_written_pgd_matches_torchattacks_on_a_deterministic_model(setup):
    torchattacks = pytest.importorskip("torchattacks", reason="torchattacks is in requirements.txt; not installed here")
    model, x, labels = setup

    class Plain(nn.Module):       # torchattacks calls model(x) without a generator
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, images):
            return self.inner(images)

    settings = PGDSettings(eps=0.05, alpha=0.01, steps=10, random_start=False)
    ours = pgd_linf(model, x, labels, settings, torch.Generator())
    theirs = torchattacks.PGD(Plain().eval(), eps=0.05, alpha=0.01, steps=10, random_start=False)(x, labels)
    assert torch.allclose(ours, theirs, atol=1e-6)
    assert float((ours - x).abs().max()) > 0.04        # the attack did move the images


def test_autoattack_rand_runs_from_the_pinned_package_and_shows_its_checks(capsys):
    from conftest import Linear
    from idc_lite.evaluation.attacks import autoattack_rand

    model = Linear(noise_std=0.1)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = Linear()(x).argmax(1)
    state = torch.random.get_rng_state()
    adv = autoattack_rand(model, x, labels, eps=0.05, generator=torch.Generator().manual_seed(0), n_iter=3, eot_iter=2)
    assert torch.equal(state, torch.random.get_rng_state())          # the caller's global RNG is untouched
    assert adv.shape == x.shape and float((adv - x).abs().max()) <= 0.05 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    assert "[AutoAttack]" in capsys.readouterr().out                  # its messages reach the user


def test_other_class_start_paints_the_nearest_other_class_within_the_budget():
    from idc_lite.evaluation.attacks import other_class_start

    x = torch.stack([torch.full((1, 4, 4), v) for v in (0.0, 0.1, 0.9, 1.0)])
    labels = torch.tensor([0, 0, 1, 1])
    start = other_class_start(x, labels, eps=0.3)
    assert torch.allclose(start[0], torch.full((1, 4, 4), 0.3))     # towards the closest class-1 image (0.9), clipped at eps
    assert torch.allclose(start[3], torch.full((1, 4, 4), 0.7))     # towards the closest class-0 image (0.1)
    assert torch.allclose(other_class_start(x, labels, eps=1.0)[1], x[2])   # unlimited budget: that image itself
    with pytest.raises(ValueError, match="two classes"):
        other_class_start(x, torch.zeros(4, dtype=torch.long), eps=0.3)
