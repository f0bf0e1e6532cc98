"""The kit's APGD against the authors' implementation (pyautoattack) on a deterministic model, and
what it adds for a random one (fresh noise per EOT draw, the iterate kept by its error rate)."""
import pytest
import torch
from torch import nn

from conftest import Linear
from idc_lite.evaluation.attacks import APGDSettings, PGDSettings, apgd, pgd
from idc_lite.evaluation.attacks.apgd import apgd_run, apgd_start
from idc_lite.foundation.errors import InputError


class MLP(nn.Module):
    """A deterministic, non-linear 10-class model on 1x8x8 images (DLR and APGD-T need 4+ classes)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))

    def forward(self, x, generator=None):
        return self.net(x)


@pytest.fixture(scope="module")
def mlp_batch():
    model = MLP().eval()
    x = torch.rand(24, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        labels = model(x).argmax(1)
    return model, x, labels


def _theirs(model, x, labels, settings, start, target=None):
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    if target is None:
        attack = APGDAttack(lambda v: model(v), n_iter=settings.steps, norm=settings.norm, eps=settings.eps,
                            loss=settings.loss, eot_iter=1, rho=settings.rho, device=x.device)
    else:
        attack = APGDAttack_targeted(lambda v: model(v), n_iter=settings.steps, norm=settings.norm, eps=settings.eps,
                                     eot_iter=1, rho=settings.rho, device=x.device)
        attack.y_target = target
    attack.init_hyperparam(x)
    x_best, _, loss_best, _ = attack.attack_single_run(x, labels, x_init=start)
    return x_best, loss_best


@pytest.mark.parametrize("norm, eps, loss", [("Linf", 8 / 255, "ce"), ("Linf", 16 / 255, "dlr"), ("L2", 0.5, "ce"),
                                             ("Linf", 8 / 255, "targeted_dlr")])
def test_apgd_computes_the_authors_iterates_on_a_deterministic_model(mlp_batch, norm, eps, loss):
    model, x, labels = mlp_batch
    settings = APGDSettings(eps=eps, steps=25, norm=norm, loss=loss)
    start = apgd_start(x, eps, norm, torch.Generator().manual_seed(0))
    target = None
    if loss == "targeted_dlr":
        with torch.no_grad():
            target = model(x).argsort(1, descending=True)[:, 1]
    ours = apgd_run(model, x, labels, settings, torch.Generator().manual_seed(1), start, target)
    x_best, loss_best = _theirs(model, x, labels, settings, start.clone(), target)
    assert torch.allclose(ours.best_loss, loss_best, atol=1e-5)
    assert torch.allclose(ours.best_loss_iterate, x_best, atol=1e-5)
    moved = (x_best - start).abs().flatten(1).max(1).values
    assert bool((moved > 0).all()), "the comparison must cover iterates that moved away from the start"


def test_apgd_is_at_least_as_strong_as_pgd_with_the_same_draws(mlp_batch):
    model, x, labels = mlp_batch
    eps = 4 / 255
    a = apgd(model, x, labels, APGDSettings(eps=eps, steps=20), torch.Generator().manual_seed(0))
    p = pgd(model, x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=20), torch.Generator().manual_seed(0))
    with torch.no_grad():
        acc_a = (model(a).argmax(1) == labels).float().mean().item()
        acc_p = (model(p).argmax(1) == labels).float().mean().item()
        clean = (model(x).argmax(1) == labels).float().mean().item()
    assert (a - x).abs().max() <= eps + 1e-6 and a.min() >= 0 and a.max() <= 1
    assert acc_a <= acc_p and acc_a < clean


def test_apgd_draws_fresh_noise_per_eot_draw_and_keeps_the_most_misclassified_iterate():
    model = Linear(noise_std=4.0)     # random: the prediction flips from draw to draw
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = Linear()(x).argmax(1)
    settings = APGDSettings(eps=0.05, steps=10, loss="margin", eot_samples=8)
    seen = []
    original = model.forward

    def recording(v, generator=None):
        logits = original(v, generator=generator)
        seen.append((generator, v.detach(), logits.detach()))
        return logits

    model.forward = recording
    start = apgd_start(x, 0.05, "Linf", torch.Generator().manual_seed(0))
    run = apgd_run(model, x, labels, settings, torch.Generator().manual_seed(2), start)
    # one call per iterate, holding the 8 draws of every example as 8 copies, each with noise of its own
    assert len(seen) == settings.steps + 1 and all(g is not None for g, _, _ in seen)
    _, images, logits = seen[0]
    assert images.shape[0] == 8 * len(x) and torch.equal(images[:len(x)], images[len(x):2 * len(x)])
    assert not torch.allclose(logits[:len(x)], logits[len(x):2 * len(x)])
    # error rates are shares of 8 draws, and the kept iterate has the highest share seen on the way
    assert bool(((run.best_error * 8).round() == run.best_error * 8).all())
    again = apgd_run(model, x, labels, settings, torch.Generator().manual_seed(2), start)
    assert torch.equal(run.best_scored_iterate, again.best_scored_iterate), "the generator decides every draw"
    other = apgd_run(model, x, labels, settings, torch.Generator().manual_seed(3), start)
    assert not torch.equal(run.best_scored_iterate, other.best_scored_iterate), "another generator, other draws"


def test_targeted_apgd_tries_the_nearest_wrong_classes_and_restarts_only_what_stands(mlp_batch):
    model, x, labels = mlp_batch
    calls = []

    def counting(v, generator=None):
        calls.append(v.shape[0])
        return model(v)

    settings = APGDSettings(eps=1 / 255, steps=5, loss="targeted_margin", targets=3, restarts=2)
    adv = apgd(counting, x, labels, settings, torch.Generator().manual_seed(0))
    assert (adv - x).abs().max() <= 1 / 255 + 1e-6
    # 6 runs of (5 + 1) gradient calls at most, after one call that ranks the wrong classes
    assert len(calls) <= 1 + 6 * 6 and sum(calls[1:]) <= x.shape[0] * 6 * 6
    broken = APGDSettings(eps=0.5, steps=5, loss="ce", restarts=3)
    calls.clear()
    apgd(counting, x, labels, broken, torch.Generator().manual_seed(0))
    assert sum(calls) < 3 * 6 * x.shape[0], "restarts run only on examples no earlier run misclassified"


@pytest.mark.parametrize("bad, message", [({"loss": "hinge"}, "loss"), ({"steps": 0}, "steps"), ({"rho": 2.0}, "rho"),
                                          ({"eot_samples": 0}, "eot_samples"), ({"random_start": "yes"}, "random_start")])
def test_apgd_settings_refuse_bad_values(bad, message):
    with pytest.raises(InputError, match=message):
        APGDSettings(**bad)


def test_autoattack_standard_runs_on_a_deterministic_model_in_a_suite(mlp_batch):
    from idc_lite.evaluation.protocol import evaluate_attacks
    from idc_lite.evaluation.suites import deterministic_suite

    model, x, labels = mlp_batch
    eps = 4 / 255
    x, labels = x[:8], labels[:8]
    suite = deterministic_suite(eps, steps=10, square_queries=50, autoattack_queries=200, autoattack_iterations=10)
    assert suite[-1].kind == "autoattack_standard"
    state = torch.random.get_rng_state()
    result = evaluate_attacks(model, x, labels, suite, draws=1)
    assert torch.equal(state, torch.random.get_rng_state())          # the caller's global RNG is untouched
    rows = {a["name"]: a for a in result["attacks"]}
    aa = rows["autoattack_standard"]
    assert aa["settings"]["version"] == "standard" and aa["settings"]["square_queries"] == 200
    assert aa["max_linf"] <= eps + 1e-6 and aa["gradient_draws_per_example"] > 10
    # AutoAttack's APGD-CE and APGD-T are at least as strong as the kit's fixed-step PGD, example by example
    pgd_rows = [rows[n]["per_example"] for n in rows if n.startswith("pgd")]
    assert all(a <= min(p) for a, *p in zip(aa["per_example"], *pgd_rows))
