"""The diffusion defences of claim C1: the DDPM's algebra, purification's randomness and gradient, the
likelihood classifier's scores, and a denoiser that learns."""
import pytest
import torch
from torch import nn

from idc_lite.defences.ddpm import (
    ClassConditionalUNet,
    DDPMConfig,
    DDPMSchedule,
    DenoiserRecipe,
    reverse_timesteps,
    train_denoiser,
)
from idc_lite.defences.likelihood import DiffusionLikelihoodClassifier, spread_timesteps
from idc_lite.defences.purification import DiffPure
from idc_lite.foundation.errors import InputError
from idc_lite.model.unet import UNet, UNetConfig

TINY = UNetConfig(image_size=8, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
                  attention_resolutions=(), channel_mult=(1, 2), dropout=0.0, resblock_updown=False)


def _x(n=3, seed=0):
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


class Oracle(nn.Module):
    """A denoiser that knows the clean image x0: it returns the exact noise of x_t = sqrt(ab) x0 + sqrt(1 - ab) e."""

    def __init__(self, schedule, x0):
        super().__init__()
        self.schedule, self.x0 = schedule, x0 * 2 - 1

    def forward(self, x_t, t):
        ab = self.schedule.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        return (x_t - ab.sqrt() * self.x0) / (1 - ab).sqrt()


def test_the_schedule_and_a_deterministic_ddim_step_invert_the_forward_noise():
    schedule = DDPMSchedule(DDPMConfig(timesteps=1000))
    ab = schedule.alphas_cumprod
    assert ab[0] == pytest.approx(1 - 1e-4) and 0 < ab[-1] < 1e-4 and bool((ab[1:] < ab[:-1]).all())
    x0, noise = torch.randn(2, 1, 8, 8, dtype=torch.float64), torch.randn(2, 1, 8, 8, dtype=torch.float64)
    t = torch.tensor([100, 100])
    x_t = schedule.q_sample(x0, t, noise)
    # with the true noise, one deterministic DDIM step from t goes exactly to x_s for the same noise
    x_s = schedule.ddim_step(x_t, 100, 40, noise, eta=0.0, noise=None)
    assert torch.allclose(x_s, schedule.q_sample(x0, torch.tensor([40, 40]), noise), atol=1e-10)
    assert torch.allclose(schedule.ddim_step(x_t, 100, -1, noise, eta=0.0, noise=None), x0, atol=1e-10)
    with pytest.raises(InputError, match="needs noise"):
        schedule.ddim_step(x_t, 100, 40, noise, eta=1.0, noise=None)
    assert reverse_timesteps(100, 5) == [100, 80, 60, 40, 20] and reverse_timesteps(3, 4) == [3, 2, 1, 0]
    with pytest.raises(InputError):
        reverse_timesteps(10, 12)


def test_purification_with_an_oracle_denoiser_returns_the_input_and_fresh_noise_differs():
    schedule = DDPMSchedule()
    x = _x()
    purifier = DiffPure(Oracle(schedule, x), schedule, nn.Flatten(), t_star=100, reverse_steps=5)
    g = torch.Generator().manual_seed(0)
    # the oracle predicts the noise that is there, so every step lands on the same x0: the input comes back
    assert torch.allclose(purifier.purify(x, g), x, atol=1e-4)
    wrong = DiffPure(lambda h, t: torch.zeros_like(h), schedule, nn.Flatten(), t_star=100, reverse_steps=5)
    a, b = wrong.purify(x, g), wrong.purify(x, g)
    assert not torch.allclose(a, b)                                   # random: two calls, two noises
    assert torch.equal(wrong.purify(x, torch.Generator().manual_seed(1)), wrong.purify(x, torch.Generator().manual_seed(1)))
    assert purifier.network_calls() == 5


def test_the_gradient_flows_through_every_reverse_step():
    schedule = DDPMSchedule()
    unet = UNet(TINY).reset_parameters(0, official_init=False)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    purifier = DiffPure(unet, schedule, classifier, t_star=50, reverse_steps=3)
    x = _x().requires_grad_(True)
    purifier(x, torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_the_likelihood_classifier_picks_the_class_whose_denoiser_is_right():
    schedule = DDPMSchedule()
    x = _x(4)

    class OneRight(nn.Module):   # class 2 predicts the true noise, every other class predicts none
        num_classes = 4

        def __init__(self):
            super().__init__()   # rows come class by class, each class's block example by example, 3 timesteps each
            self.oracle = Oracle(schedule, x.repeat_interleave(3, 0).repeat(4, 1, 1, 1))

        def forward(self, x_t, t, y):
            return torch.where((y == 2).view(-1, 1, 1, 1), self.oracle(x_t, t), torch.zeros_like(x_t))

    clf = DiffusionLikelihoodClassifier(OneRight(), schedule, (1, 8, 8), timesteps=[50, 200, 400], seed=0)
    assert clf(x).argmax(1).tolist() == [2, 2, 2, 2] and clf.network_calls() == 12
    again = DiffusionLikelihoodClassifier(OneRight(), schedule, (1, 8, 8), timesteps=[50, 200, 400], seed=0)
    assert torch.equal(clf(x), again(x))                               # fixed timesteps and noises: deterministic
    assert spread_timesteps(schedule, 3) == [50, 275, 500]
    with pytest.raises(InputError):
        DiffusionLikelihoodClassifier(OneRight(), schedule, (1, 8, 8), timesteps=[1000])


def test_a_denoiser_learns_and_a_conditional_one_needs_its_labels():
    schedule = DDPMSchedule(DDPMConfig(timesteps=100))
    x = _x(32).round()                                                 # binary images: an easy distribution
    recipe = DenoiserRecipe(epochs=6, batch_size=16, lr=2e-3, seed=0)
    ema, losses = train_denoiser(UNet(TINY), schedule, x, recipe)
    assert losses[-1] < 0.8 * losses[0] and not ema.training
    again, _ = train_denoiser(UNet(TINY), schedule, x, recipe)
    assert all(torch.equal(a, b) for a, b in zip(ema.state_dict().values(), again.state_dict().values()))
    with pytest.raises(InputError, match="labels"):
        train_denoiser(ClassConditionalUNet(TINY, 4), schedule, x, recipe)
    with pytest.raises(InputError, match="labels"):
        ClassConditionalUNet(TINY, 4)(x, torch.zeros(32, dtype=torch.long))


def test_a_stored_denoiser_is_reused_only_with_the_same_settings(tmp_path):
    from idc_lite.defences.store import load_or_train_denoiser

    x, labels = _x(8), torch.arange(8) % 4
    recipe = DenoiserRecipe(epochs=1, batch_size=8, seed=0)
    ddpm = DDPMConfig(timesteps=50)
    path = tmp_path / "denoiser.pt"
    first, schedule, made = load_or_train_denoiser(path, x, TINY, ddpm, recipe, data_info={"name": "tiny"},
                                                   labels=labels, num_classes=4)
    assert not made.exists and path.is_file() and schedule.timesteps == 50
    again, _, loaded = load_or_train_denoiser(path, x, TINY, ddpm, recipe, data_info={"name": "tiny"},
                                              labels=labels, num_classes=4)
    assert loaded.exists and isinstance(again, ClassConditionalUNet)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    other, _, beside = load_or_train_denoiser(path, x, TINY, ddpm, DenoiserRecipe(epochs=1, batch_size=8, seed=1),
                                              data_info={"name": "tiny"}, labels=labels, num_classes=4)
    assert not beside.exists and beside.path != path and path.is_file()     # the other settings' file sits beside it
    (tmp_path / "foreign.pt").write_bytes(b"not a denoiser")
    with pytest.raises(Exception, match="foreign.pt"):
        load_or_train_denoiser(tmp_path / "foreign.pt", x, TINY, ddpm, recipe, data_info={}, labels=labels,
                               num_classes=4)


def test_max_batches_caps_each_epoch_and_an_uncapped_recipe_still_reuses_older_denoisers(tmp_path):
    from idc_lite.defences.store import denoiser_settings, load_or_train_denoiser

    schedule, x = DDPMSchedule(DDPMConfig(timesteps=50)), _x(40)
    calls = []
    unet = UNet(TINY)
    unet.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    _, losses = train_denoiser(unet, schedule, x, DenoiserRecipe(epochs=2, batch_size=8, max_batches=2))
    assert calls == [8] * 4 and len(losses) == 2                       # 2 batches in each of 2 epochs, not 5
    assert DenoiserRecipe(max_batches=2).to_dict()["max_batches"] == 2
    assert "max_batches" not in DenoiserRecipe().to_dict()              # the settings written before the cap existed
    with pytest.raises(InputError, match="max_batches"):
        DenoiserRecipe(max_batches=-1)
    path, ddpm, recipe = tmp_path / "denoiser.pt", DDPMConfig(timesteps=50), DenoiserRecipe(epochs=1, batch_size=8)
    load_or_train_denoiser(path, x, TINY, ddpm, recipe, data_info={"name": "tiny"})
    assert "max_batches" not in denoiser_settings(path)["recipe"]
    _, _, reused = load_or_train_denoiser(path, x, TINY, ddpm, recipe, data_info={"name": "tiny"})
    _, _, capped = load_or_train_denoiser(path, x, TINY, ddpm, DenoiserRecipe(epochs=1, batch_size=8, max_batches=1),
                                          data_info={"name": "tiny"})
    assert reused.exists and not capped.exists and capped.path != path


def test_purification_brings_its_own_surrogates_for_the_attacks():
    from idc_lite.evaluation.protocol import AttackSpec, _target

    schedule = DDPMSchedule()
    unet = UNet(TINY).reset_parameters(0, official_init=False)
    classifier = nn.Sequential(nn.Flatten(), nn.Linear(64, 4))
    purifier = DiffPure(unet, schedule, classifier, t_star=50, reverse_steps=3)
    x = _x()
    first = _target(purifier, AttackSpec("s", "pgd", {"eps": 0.1, "alpha": 0.01, "steps": 1}, "first_step"), None)
    assert torch.equal(first(x), first(x))                             # deterministic: no noise drawn
    bpda = _target(purifier, AttackSpec("b", "pgd", {"eps": 0.1, "alpha": 0.01, "steps": 1}, "bpda"), None)
    xg = x.clone().requires_grad_(True)
    bpda(xg, torch.Generator().manual_seed(0)).sum().backward()
    # the identity backward: the gradient is the classifier's own, whatever the purified image
    assert torch.allclose(xg.grad, classifier[1].weight.sum(0).view(1, 1, 8, 8).expand_as(x), atol=1e-6)


class _Linear(nn.Module):
    """A linear classifier of 8x8 images that takes (and ignores) the generator every model of the kit takes."""

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(64, 4)

    def forward(self, x, generator=None):
        return self.layer(x.flatten(1))


def test_the_likelihood_classifiers_cascade_attacks_its_exact_gradient_and_pairs_with_idcs_first_examples():
    """A deterministic diffusion classifier under its cascade: no EOT, no surrogate, the black-box challengers
    refined by APGD; a defence attacked on the first n examples pairs with IDC's first n."""
    from idc_lite.comparisons.diffusion_defences import defence_comparisons
    from idc_lite.evaluation.protocol import evaluate_attacks
    from idc_lite.evaluation.suites import deterministic_cascade_suite_for
    from idc_lite.foundation.run_metrics import AttackSettings

    settings = AttackSettings(steps=3, square_queries=5, apgd_steps=4, scoring_draws=3)
    suite = deterministic_cascade_suite_for(0.1, settings)
    assert [s.name for s in suite] == ["pgd3_margin", "apgd_ce", "apgd_dlr", "apgd_targeted", "square5",
                                       "transfer_from_cnn", "apgd_from_square5", "apgd_from_transfer_from_cnn"]
    assert {s.settings()["eot_samples"] for s in suite if s.kind == "apgd"} == {1}
    assert {s.target for s in suite} == {"model", "transfer"}        # the exact gradient: no surrogate, no BPDA
    torch.manual_seed(0)
    linear = _Linear()
    x, labels = _x(6), linear(_x(6)).argmax(1)                        # every example right before the attack
    result = evaluate_attacks(linear, x, labels, suite, draws=1, sources={"cnn": linear}, cascade=True, protocol="adaptive")
    assert result["clean_accuracy"] == 1.0 and len(result["worst_case_per_example"]) == 6
    idc = {"adaptive": {"worst_case_per_example": [1.0] * 3 + [0.0] * 7}}
    defence = {"adaptive": {**result, "worst_case_per_example": [0.0] * 3, "examples": 3}}
    (row,) = defence_comparisons(idc, {"RDC": defence})
    assert row["examples"] == 3 and row["difference"]["difference"] == pytest.approx(1.0)   # IDC's first 3, not all 10


def test_measured_costs_count_every_model_with_one_counter():
    from idc_lite.comparisons.diffusion_defences import measured_costs

    schedule = DDPMSchedule()
    classifier = _Linear()
    purifier = DiffPure(UNet(TINY).reset_parameters(0, official_init=False), schedule, classifier, t_star=50, reverse_steps=3)
    conditional = ClassConditionalUNet(TINY, 4).reset_parameters(0, official_init=False)
    likelihood = DiffusionLikelihoodClassifier(conditional, schedule, (1, 8, 8), timesteps=[10, 20], seed=0)
    kinds = {"cnn": "standard training", "purifier": "diffusion purification", "likelihood": "diffusion classifier"}
    rows = measured_costs({"cnn": classifier, "purifier": purifier, "likelihood": likelihood}, kinds, (1, 8, 8), batch_size=2)
    by = {r["method"]: r for r in rows}
    assert by["cnn"]["network_calls"] == 1 and by["purifier"]["network_calls"] == 4 and by["likelihood"]["network_calls"] == 8
    one_unet = by["likelihood"]["flops_per_prediction"] / 8           # the classifier calls the U-Net once per class and timestep
    assert by["purifier"]["flops_per_prediction"] == pytest.approx(3 * one_unet + by["cnn"]["flops_per_prediction"], rel=1e-6)
    assert all(r["seconds_per_prediction"] > 0 and r["time_source"] == "measured here" for r in rows)


def test_a_deterministic_defences_checks_catch_a_challenger_breaking_what_white_box_missed():
    """The likelihood classifier's cascade has no FGSM: its first stage ends where Square begins, and an example
    Square breaks that every white-box attack left standing fails 'white-box beats black-box' (one exact draw)."""
    from idc_lite.evaluation.cascade_checks import first_stage
    from idc_lite.evaluation.sanity import cascade_checks_of
    from idc_lite.evaluation.suites import deterministic_cascade_suite_for
    from idc_lite.foundation.run_metrics import AttackSettings

    settings = AttackSettings(steps=3, square_queries=5, apgd_steps=4)
    names = [s.name for s in deterministic_cascade_suite_for(0.1, settings)]
    assert first_stage({"attacks": [{"name": n} for n in names]}) == names[:4]
    torch.manual_seed(0)
    linear = _Linear().requires_grad_(False)
    x = _x(6)
    labels = linear(x).argmax(1)
    pool = torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    wrong = torch.stack([pool[linear(pool).argmax(1) != y][0] for y in labels])      # images the model gets wrong
    square = [0.0, 0.0, 1.0, 1.0, 1.0, 1.0]                                          # breaks 0 and 1, white-box nothing
    attacks = [{"name": n, "attacked_examples": 6, "per_example": [1.0] * 6} for n in names[:4]]
    attacks += [{"name": names[4], "attacked_examples": 6, "per_example": square},
                {"name": names[5], "attacked_examples": 4, "per_example": [None, None] + [1.0] * 4}]
    result = {"attacks": attacks, "cascade": True, "examples": 6, "worst_case_per_example": square,
              "worst_case_accuracy": 4 / 6}
    adversarial = {n: x.clone() for n in names[:4]} | {names[4]: torch.cat([wrong[:2], x[2:]]), names[5]: x.clone()}
    versus, alone, doubled = cascade_checks_of(linear, result, adversarial, x, labels, eps=0.1, settings=settings, seed=0,
                                               random_model=False)
    assert versus["check"] == "white-box beats black-box, example by example" and versus["status"] == "FAILED"
    assert versus["values"]["broken_alone"] == [0, 1] and versus["values"]["rescoring_draws"] == 1
    assert alone["status"] == "FAILED" and alone["values"]["first_stage"] == 1.0
    assert doubled["values"]["attacked"] == 4 and doubled["values"]["settings"]["steps"] == 8
    assert doubled["values"]["settings"]["eot_samples"] == 1 and doubled["check"].startswith("twice the iterations move")
    honest = {**result, "attacks": attacks[:4] + [{**attacks[4], "per_example": [1.0] * 6}, attacks[5]],
              "worst_case_per_example": [1.0] * 6, "worst_case_accuracy": 1.0}
    versus, alone, _ = cascade_checks_of(linear, honest, {**adversarial, names[4]: x.clone()}, x, labels, eps=0.1,
                                         settings=settings, seed=0, random_model=False)
    assert versus["status"] == "passed" and alone["status"] == "passed"
    white_only = {**honest, "attacks": attacks[:4]}                  # nothing to compare with: refused, not passed
    with pytest.raises(InputError, match="no white-box stage|no Square or transfer"):
        cascade_checks_of(linear, white_only, adversarial, x, labels, eps=0.1, settings=settings, seed=0,
                          random_model=False)


def test_a_conditional_denoiser_learns_the_same_from_the_same_seed_whatever_the_global_rng():
    """Its label embedding too is initialised from the recipe's seed (it once came from the global RNG, so notebook
    07's likelihood classifier differed from run to run)."""
    schedule = DDPMSchedule(DDPMConfig(timesteps=20))
    x, labels = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(0)), torch.arange(32) % 4
    recipe = DenoiserRecipe(epochs=1, batch_size=16, seed=3, precision="fp32")
    trained = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        unet, _ = train_denoiser(ClassConditionalUNet(TINY, 4), schedule, x, recipe, labels=labels)
        trained.append(unet.state_dict())
    assert all(torch.equal(trained[0][k], trained[1][k]) for k in trained[0])


def test_notebook_07s_defences_take_colour_images(tmp_path):
    """Notebook 07's path on three-channel images (the CIFAR-10 presets' data; the digits chain has one channel
    and the presets' smoke chains stop after 05): both denoisers train on colour and load again, DiffPure purifies
    colour images and classifies them with a colour CNN, the likelihood classifier scores every class, and both
    face their adaptive cascade with its sanity checks, on the smoke sizes of notebook 04's attacks."""
    import dataclasses

    from conftest import tiny_config, tiny_data
    from idc_lite.comparisons.baselines import SmallCNN
    from idc_lite.comparisons.diffusion_defences import (
        CLASSIFIER,
        PURIFICATION,
        DefenceSettings,
        build_defences,
        evaluate_defence,
    )
    from idc_lite.data.splits import DataSplit
    from idc_lite.evaluation.model_evaluation import EvaluationSettings

    grey, tint = tiny_data(), torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)
    data = DataSplit(grey.x_train * tint, grey.y_train, grey.x_test * tint, grey.y_test, grey.class_names,
                     {"dataset": "tiny colour"})
    unet = dataclasses.replace(tiny_config().unet, in_channels=3, out_channels=3)
    cnn = SmallCNN(3, 8, 4).eval().requires_grad_(False)
    settings = DefenceSettings(t_star=20, reverse_steps=2, timesteps=2, epochs=1, max_batches=1,
                               purification_examples=2, classifier_examples=2)
    defences, built = build_defences(tmp_path, data, cnn, unet, settings, seed=0)
    assert not any(b["reused"] for b in built.values())
    again, rebuilt = build_defences(tmp_path, data, cnn, unet, settings, seed=0)
    assert all(b["reused"] for b in rebuilt.values())
    x, labels = data.x_test[:2], data.y_test[:2]
    with torch.no_grad():
        purified = defences[PURIFICATION].purify(x, torch.Generator().manual_seed(0))
        scores = defences[CLASSIFIER](x)
    assert purified.shape == x.shape and scores.shape == (2, 4) and torch.isfinite(scores).all()
    attacks = EvaluationSettings().smoke_sized().attack_settings("fp32", None)
    for name in (PURIFICATION, CLASSIFIER):
        result = evaluate_defence(name, again[name], x, labels, eps=16 / 255, secondary_eps=None, settings=attacks,
                                  cnn=cnn, seed=0)
        main = result["adaptive"]
        assert 0.0 <= main["worst_case_accuracy"] <= 1.0 and main["sanity_checks"], name
