"""Every exercise checker accepts the notebook's own solution and rejects plausible wrong answers
with a message that points at the mistake (among them the five wrong answers that passed the old
self-checks: a random-image distance for 01, ``same = True`` for 02, ``a = b = torch.zeros(1)`` for
03, ``x_fixed = x[:8]`` for 04 and ``gaps = {n: 0.0 ...}`` for 05)."""
import copy
import json
import re

import pytest
import torch
import torch.nn.functional as F

from conftest import tiny_config
from exercise_solutions import solution_functions, solution_region
from idc_lite.comparisons.baselines import save_cnn, train_cnn
from idc_lite.data.splits import DataSplit
from idc_lite.evaluation.attacks import PGDSettings
from idc_lite.foundation.errors import ExerciseCheckFailed
from idc_lite.model.bridge import make_schedule
from idc_lite.model.classifier import IDCClassifier
from idc_lite.model.label_images import label_image_diagnostics, make_label_images
from idc_lite.teaching import checks


def fails(match: str):
    return pytest.raises(ExerciseCheckFailed, match=match)


@pytest.fixture(scope="module")
def tiny_model():
    model = IDCClassifier(tiny_config()).eval()
    model.unet.reset_parameters(0, official_init=True)     # as training starts: the output layer is not zero
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.fixture(scope="module")
def tiny_x():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 1, 8, 8, generator=g)
    return x, torch.tensor([0, 1, 2, 3, 0, 1])


# ---- 01 -------------------------------------------------------------------------------------------
def test_01_global_minmax():
    solution = solution_functions("01_label_images", "ex01_1_solution")["global_minmax"]
    assert "passed" in checks.check_global_minmax(solution)
    assert "passed" in checks.check_global_minmax(solution, seed=7, shape=(12, 3, 5, 5))

    def per_image(c):
        low, high = c.amin(dim=(1, 2, 3), keepdim=True), c.amax(dim=(1, 2, 3), keepdim=True)
        return (c - low) / (high - low)

    def in_place(c):
        c -= c.min()
        return c.div_(c.max())

    with fails("per-image min-max"):
        checks.check_global_minmax(per_image)
    with fails("largest 1"):
        checks.check_global_minmax(lambda c: c / c.abs().max())
    with fails("changed its input in place"):
        checks.check_global_minmax(in_place)
    # a min-max over one image only (the first): its extremes are not the global ones in the check's input
    with fails("largest 1"):
        checks.check_global_minmax(lambda c: (c - c[0].min()) / (c[0].max() - c[0].min()))
    with fails("largest 1"):
        checks.check_global_minmax(lambda c: (c - c[-1].min()) / (c[-1].max() - c[-1].min()))
    with fails("still raises NotImplementedError"):
        checks.check_global_minmax(lambda c: (_ for _ in ()).throw(NotImplementedError()))


def test_01_label_image_distances():
    answer = solution_region("01_label_images", "ex01_2_solution")
    assert "passed" in checks.check_label_image_distances(answer["min_distance_10"], answer["min_distance_100"])
    random_images = torch.rand(100, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    random_distance = label_image_diagnostics(random_images)["min_off_diagonal_distance"]
    assert 0 < random_distance < 1                     # what the old self-check accepted
    with fails("not the smallest mean absolute distance"):
        checks.check_label_image_distances(answer["min_distance_10"], random_distance)
    with fails("distance of an image to itself"):
        checks.check_label_image_distances(0.0, answer["min_distance_100"])
    ten_at_cifar = label_image_diagnostics(make_label_images(10, (3, 32, 32)))["min_off_diagonal_distance"]
    with fails("value for 10 classes"):
        checks.check_label_image_distances(answer["min_distance_10"], ten_at_cifar)
    with fails("must be a number"):
        checks.check_label_image_distances(True, answer["min_distance_100"])


# ---- 02 -------------------------------------------------------------------------------------------
def test_02_q_sample():
    solution = solution_functions("02_train_classifier", "ex02_1_solution")["my_q_sample"]
    assert "passed" in checks.check_q_sample(solution)
    assert "passed" in checks.check_q_sample(solution, seed=3, num_timesteps=6, mt_type="sin", image_shape=(3, 5, 5))

    def view(v, t):
        return v[t].view(-1, 1, 1, 1)

    wrong = {
        "standard deviation": lambda x0, y, t, n, m, v: (1 - view(m, t)) * x0 + view(m, t) * y + view(v, t) * n,
        "swapped": lambda x0, y, t, n, m, v: (1 - view(m, t)) * y + view(m, t) * x0 + view(v, t).sqrt() * n,
        "training target": lambda x0, y, t, n, m, v: view(m, t) * (y - x0) + view(v, t).sqrt() * n,
        "read at t - 1": lambda x0, y, t, n, m, v: ((1 - view(m, t - 1)) * x0 + view(m, t - 1) * y
                                                   + view(v, t - 1).sqrt() * n),
    }
    for hint, fn in wrong.items():
        with fails(hint):
            checks.check_q_sample(fn)


def test_02_posterior_variance():
    solution = solution_functions("02_train_classifier", "ex02_2_solution")["my_posterior_variance"]
    noop = solution_region("02_train_classifier", "ex02_2_value", my_posterior_variance=solution,
                           schedule64=make_schedule(4, dtype=torch.float64))["noop_variance"]
    assert "passed" in checks.check_posterior_variance(solution, noop)
    assert "passed" in checks.check_posterior_variance(solution, noop, num_timesteps=6, mt_type="sin")
    with fails("gives 0 for the step"):
        checks.check_posterior_variance(lambda m, v, t, n: 0.0, 0.0)

    def swapped(m, v, t, n):
        return solution(m, v, n, t)

    def no_factor(m, v, t, n):
        return v[t] - v[n] * (1 - m[t]) ** 2 / (1 - m[n]) ** 2

    with fails("swapped"):
        checks.check_posterior_variance(swapped, noop)
    with fails("factor variance_next / variance_t"):
        checks.check_posterior_variance(no_factor, noop)
    with fails("must be your function's value"):
        checks.check_posterior_variance(solution, 2.98e-8)       # the float32 value, not this function's


def test_02_interclass_term():
    solution = solution_functions("02_train_classifier", "ex02_3_solution")["my_interclass_term"]
    assert "passed" in checks.check_interclass_term(solution)
    assert "passed" in checks.check_interclass_term(solution, seed=5, num_classes=10, weight=0.5, batch=12)

    def parts(output, targets, labels):
        d = (targets - output.unsqueeze(1)).abs().mean(dim=(2, 3, 4))
        rows = torch.arange(labels.shape[0])
        own = d[rows, labels]
        wrong = d.clone()
        wrong[rows, labels] = float("inf")
        return d, own, wrong.min(1).values, own > d.min(1).values

    def positive(o, tg, lb, w):
        return -solution(o, tg, lb, w)

    def unmasked(o, tg, lb, w):
        return -w * parts(o, tg, lb)[2].mean()

    def own_distance(o, tg, lb, w):
        _, own, _, mask = parts(o, tg, lb)
        return -w * torch.where(mask, own, torch.zeros_like(own)).mean()

    def summed(o, tg, lb, w):
        _, own, nearest, mask = parts(o, tg, lb)
        return -w * torch.where(mask, nearest, torch.zeros_like(own)).sum()

    for hint, fn in {"the sign": positive, "penalise only": unmasked, "nearest wrong class's target, not": own_distance,
                     "average over the batch": summed}.items():
        with fails(hint):
            checks.check_interclass_term(fn)


def _skip_noop_case(model, x):
    """Exercise 02.4 on ``model``: the official noise draws, the notebook's solution (checked to pass), and
    the sampler without the no-op step, for building wrong answers."""
    g = torch.Generator().manual_seed(0)
    noise = [torch.randn(x.shape, generator=g) for _ in range(model.bridge.num_noise_draws)]
    answer = solution_region("02_train_classifier", "ex02_4_solution", classifier=model, x_check=x,
                             noise_check=noise, device="cpu", IDCClassifier=IDCClassifier)
    assert "passed" in checks.check_skip_noop(answer["fixed_logits"], answer["same"], model, x, noise)
    fixed = copy.deepcopy(model)
    fixed.bridge = type(model.bridge).from_config(model.config, skip_noop_steps=True)
    return noise, answer, fixed


@pytest.mark.slow  # trains briefly
def test_02_skip_noop(tiny_model, tiny_x):
    x = tiny_x[0]
    noise, answer, fixed = _skip_noop_case(tiny_model, x)
    with torch.no_grad():
        official = tiny_model(x, noise=noise)
        wrong_draw = fixed(x, noise=noise[:2])
    with fails("must be a torch.Tensor"):
        checks.check_skip_noop(None, True, tiny_model, x, noise)          # the old answer `same = True`
    with fails("official sampler's logits"):
        checks.check_skip_noop(official, answer["same"], tiny_model, x, noise)
    with fails("you dropped draw 2, not the no-op.s"):
        checks.check_skip_noop(wrong_draw, answer["same"], tiny_model, x, noise)
    with fails("same must be True or False"):
        checks.check_skip_noop(answer["fixed_logits"], "yes", tiny_model, x, noise)


@pytest.mark.parametrize("num_timesteps", [3, 8])
def test_02_skip_noop_follows_the_runs_step_list(tiny_x, num_timesteps):
    """A sweep trains other T: [2, 1, 0] has no no-op step, [7, 5, 4, 3, 2, 1, 1, 0] has it at position 5.
    The notebook's solution passes at both; the T = 4 answer (drop draw 1) fails at T = 8."""
    from idc_lite.training.presets import with_ablation

    model = IDCClassifier(with_ablation(tiny_config(), num_timesteps=num_timesteps)).eval()
    model.unet.reset_parameters(0, official_init=True)
    x = tiny_x[0]
    noise, answer, fixed = _skip_noop_case(model, x)
    if num_timesteps == 8:
        with torch.no_grad():
            authors_t_answer = fixed(x, noise=noise[:1] + noise[2:])
        with fails("you dropped draw 1, not the no-op.s: the no-op step is step 5 .* leave out draw 5"):
            checks.check_skip_noop(authors_t_answer, answer["same"], model, x, noise)


# ---- 03 -------------------------------------------------------------------------------------------
def test_03_deterministic_sampler(tiny_model, tiny_x):
    x, labels = tiny_x
    model = copy.deepcopy(tiny_model)
    answer = solution_region("03_denoising_trajectories", "ex03_1_solution", model=model, x_all=x, y_all=labels)
    assert "passed" in checks.check_deterministic_sampler(answer["deterministic"], answer["a"], answer["b"], model, x)
    zeros = torch.zeros(1)
    with fails("must have shape"):
        checks.check_deterministic_sampler(answer["deterministic"], zeros, zeros, model, x)   # the old wrong answer
    config_only = copy.deepcopy(model)
    config_only.config.eta = 0.0
    with fails("still has eta = 1.0"):
        checks.check_deterministic_sampler(config_only, answer["a"], answer["b"], model, x)
    with fails("the notebook's model itself"):
        checks.check_deterministic_sampler(model, answer["a"], answer["b"], model, x)
    mutated = copy.deepcopy(model)
    mutated.bridge.eta = 0.0
    with fails("change a copy"):
        checks.check_deterministic_sampler(copy.deepcopy(mutated), answer["a"], answer["b"], mutated, x)
    with torch.no_grad():
        random_logits = model(x, generator=torch.Generator().manual_seed(0))
    with fails("logits"):
        checks.check_deterministic_sampler(answer["deterministic"], random_logits, answer["b"], model, x)


def test_03_scoring_rules():
    solution = solution_functions("03_denoising_trajectories", "ex03_2_solution")["score_rules"]
    assert "passed" in checks.check_scoring_rules(solution)
    assert "passed" in checks.check_scoring_rules(solution, seed=11)

    def rules(one=None, majority=None, all_=None):
        def fn(p, labels):
            out = solution(p, labels)
            c = p == labels
            if one:
                out["one"] = c[0].float().mean().item()
            if majority:
                out["majority"] = (c.float().mean(0) > 0.5).float().mean().item()
            if all_:
                out["all"] = c.any(0).float().mean().item()
            return out
        return fn

    with fails("not the first draw's"):
        checks.check_scoring_rules(rules(one=True))
    with fails("most frequent predicted class"):
        checks.check_scoring_rules(rules(majority=True))
    with fails("every draw right"):
        checks.check_scoring_rules(rules(all_=True))
    with fails("keys 'one', 'majority' and 'all'"):
        checks.check_scoring_rules(lambda p, labels: True)


# ---- 04 -------------------------------------------------------------------------------------------
def _margin_sum(model, x, labels, generator):
    z = model(x, generator=generator)
    other = z.masked_fill(F.one_hot(labels, z.shape[1]).bool(), float("-inf")).max(1).values
    return (other - z.gather(1, labels[:, None]).squeeze(1)).sum()


def test_04_eot_gradient():
    solution = solution_functions("04_attack", "ex04_1_solution")["eot_gradient"]
    assert "passed" in checks.check_eot_gradient(solution)
    assert "passed" in checks.check_eot_gradient(solution, seed=9)

    def one_sample(model, x, labels, samples, generator):
        return solution(model, x, labels, 1, generator)

    def fixed_noise(model, x, labels, samples, generator):
        return sum(solution(model, x, labels, 1, torch.Generator().manual_seed(0)) for _ in range(samples)) / samples

    def summed(model, x, labels, samples, generator):
        return samples * solution(model, x, labels, samples, generator)

    def descent(model, x, labels, samples, generator):
        return -solution(model, x, labels, samples, generator)

    for hint, fn in {"call the model once per sample": one_sample, "fresh noise": fixed_noise,
                     "instead of summing": summed, "the sign": descent}.items():
        with fails(hint):
            checks.check_eot_gradient(fn)


def test_04_eot_pgd():
    gradient = solution_functions("04_attack", "ex04_1_solution")["eot_gradient"]
    solution = solution_functions("04_attack", "ex04_1_pgd", eot_gradient=gradient)["eot_pgd"]
    assert "passed" in checks.check_eot_pgd(solution)
    assert "passed" in checks.check_eot_pgd(solution, seed=4)

    def attack(sign=1.0, project=True, clip=True, samples=None):
        def fn(model, x, labels, eps, alpha, steps, n, generator):
            x_adv = x.clone()
            for _ in range(steps):
                x_adv = x_adv + sign * alpha * gradient(model, x_adv, labels, samples or n, generator).sign()
                if project:
                    x_adv = x + (x_adv - x).clamp(-eps, eps)
                if clip:
                    x_adv = x_adv.clamp(0, 1)
            return x_adv
        return fn

    with fails("steps down the loss"):
        checks.check_eot_pgd(attack(sign=-1.0))
    with fails("clip the result to"):
        checks.check_eot_pgd(attack(clip=False))
    with fails("project back onto the eps-ball"):
        checks.check_eot_pgd(attack(project=False))
    with fails("average the gradient over `samples`"):
        checks.check_eot_pgd(attack(samples=1))


def test_04_first_step_surrogate(tiny_model, tiny_x):
    x, labels = tiny_x
    functions = solution_functions("04_attack", "ex04_2_solution")
    logits_fn = functions["first_step_logits"]
    assert "passed" in checks.check_first_step_logits(logits_fn, tiny_model, x)

    def variant(**change):
        return lambda model, x: checks.attack.first_step(model, x, **change)

    with fails("not 0"):
        checks.check_first_step_logits(variant(t_value=0), tiny_model, x)
    with fails("to_model_scale"):
        checks.check_first_step_logits(variant(model_scale=False), tiny_model, x)
    with fails("to_image_scale"):
        checks.check_first_step_logits(variant(image_scale=False), tiny_model, x)

    wrapper = solution_functions("04_attack", "ex04_2_attack", model=tiny_model, first_step_logits=logits_fn)
    eps = 16 / 255
    answer = solution_region("04_attack", "ex04_2_attack", MySurrogate=wrapper["MySurrogate"], x=x, labels=labels,
                             eps=eps, seed=0)
    assert "passed" in checks.check_surrogate_attack(answer["x_surrogate"], tiny_model, x, labels, eps)
    with fails("clean images"):
        checks.check_surrogate_attack(x.clone(), tiny_model, x, labels, eps)
    noise = ((torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * eps + x).clamp(0, 1)
    with fails("attack the first-step surrogate itself"):
        checks.check_surrogate_attack(noise, tiny_model, x, labels, eps)
    with fails("leave the eps-ball"):
        checks.check_surrogate_attack((x + 2 * eps).clamp(0, 1), tiny_model, x, labels, eps)


def test_04_fixed_noise_attack(tmp_path, tiny_model, tiny_x):
    x, labels = tiny_x
    eps = 16 / 255

    def load_classifier(path):
        return copy.deepcopy(tiny_model)

    answer = solution_region("04_attack", "ex04_3_solution", load_classifier=load_classifier, run=tmp_path,
                             MODEL_FILE="model.pt", x=x, labels=labels, eps=eps, seed=0)
    assert "passed" in checks.check_fixed_noise_attack(answer["x_fixed"], tiny_model, x, labels, eps)
    with fails("clean images"):
        checks.check_fixed_noise_attack(x[:8], tiny_model, x, labels, eps)       # the old wrong answer
    noise = ((torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * eps + x).clamp(0, 1)
    with fails("model with fixed noise"):
        checks.check_fixed_noise_attack(noise, tiny_model, x, labels, eps)


def test_04_fixed_noise_check_measures_against_the_attack_the_exercise_asks_for(monkeypatch, tiny_model, tiny_x):
    """The exercise asks for pgd_linf (cross-entropy, last iterate). The package's PGD keeps each example's best
    iterate, and on a trained digits model it raised the mean margin three times as much through one example, so a
    checker measuring against it rejected the reference solution. The yardstick is now the exercise's own attack
    (the surrogate exercise keeps the package's margin PGD), and a correct answer is exactly the yardstick."""
    x, labels = tiny_x
    eps = 16 / 255
    used = []
    real_pgd, real_linf = checks.attack.pgd, checks.attack.pgd_linf
    monkeypatch.setattr(checks.attack, "pgd", lambda *a: used.append("pgd") or real_pgd(*a))
    monkeypatch.setattr(checks.attack, "pgd_linf", lambda *a: used.append("pgd_linf") or real_linf(*a))
    from idc_lite.evaluation.attacks import FixedNoise, PGDSettings, pgd_linf

    answer = pgd_linf(FixedNoise(tiny_model, 0), x, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=10),
                      torch.Generator().manual_seed(0))
    passed = checks.check_fixed_noise_attack(answer, tiny_model, x, labels, eps)
    gain, reference = re.search(r"raised by ([-\d.e]+) \(10-step PGD: ([-\d.e]+)\)", passed).groups()
    assert gain == reference                                  # the right answer is the yardstick itself
    noise = ((torch.rand(x.shape, generator=torch.Generator().manual_seed(3)) * 2 - 1) * eps + x).clamp(0, 1)
    with fails("attack the first-step surrogate itself"):
        checks.check_surrogate_attack(noise, tiny_model, x, labels, eps)
    assert used == ["pgd_linf", "pgd"]


# ---- 05 -------------------------------------------------------------------------------------------
def _results():
    def protocol(paper8, paper16, adaptive):
        return {"paper@8": {"worst_case_and_clean": paper8}, "paper@16": {"worst_case_and_clean": paper16},
                "adaptive": {"worst_case_accuracy": adaptive}}
    return {"IDC": protocol(0.92, 0.91, 0.80), "standard CNN": protocol(0.90, 0.58, 0.58),
            "adversarially trained CNN": protocol(0.95, 0.88, 0.87)}


def test_05_protocol_gaps():
    results = _results()
    answer = solution_region("05_baselines", "ex05_1_solution", results=results, main_paper_key="paper@16")
    assert "passed" in checks.check_protocol_gaps(answer["gaps"], answer["largest_gap"], results, "paper@16")
    with fails("compute each from `results`"):
        checks.check_protocol_gaps({n: 0.0 for n in results}, "IDC", results, "paper@16")     # the old wrong answer
    with fails("the sign"):
        checks.check_protocol_gaps({n: -g for n, g in answer["gaps"].items()}, "IDC", results, "paper@16")
    at_8 = {n: r["paper@8"]["worst_case_and_clean"] - r["adaptive"]["worst_case_accuracy"] for n, r in results.items()}
    with fails("not paper@8"):
        checks.check_protocol_gaps(at_8, "IDC", results, "paper@16")
    with fails("largest_gap must name"):
        checks.check_protocol_gaps(answer["gaps"], "standard CNN", results, "paper@16")
    with fails("one entry per model"):
        checks.check_protocol_gaps({"IDC": 0.11}, "IDC", results, "paper@16")


@pytest.fixture(scope="module")
def cnn_data():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(64) % 4
    x = (torch.rand(64, 1, 8, 8, generator=g) * 0.3 + F.one_hot(labels, 4).float().repeat_interleave(16, 1)
         .view(64, 1, 8, 8) * 0.6).clamp(0, 1)
    return DataSplit(x[:48], labels[:48], x[48:], labels[48:], ["a", "b", "c", "d"], {"dataset": "toy"})


def test_05_adv_cnn_exercise(tmp_path, cnn_data):
    eps, seed, adv_steps, adv_epochs = 16 / 255, 0, 2, 2
    x, labels = cnn_data.x_test, cnn_data.y_test
    main = tmp_path / "adv_cnn.pt"
    settings = PGDSettings(eps=eps, alpha=2.5 * eps / adv_steps, steps=adv_steps)
    save_cnn(train_cnn(cnn_data, epochs=1, seed=seed, adversarial=settings), main, adversarial=settings.to_dict())
    before = main.read_bytes()
    answer = solution_region("05_baselines", "ex05_2_solution", run=tmp_path, data=cnn_data, cnn_data=cnn_data, eps=eps,
                             seed=seed, adv_steps=adv_steps, exercise_epochs=adv_epochs, x=x, labels=labels,
                             smoke=True)
    assert main.read_bytes() == before                          # the exercise never touches the run's adv_cnn.pt
    assert "passed" in checks.check_adv_cnn_exercise(answer["adv2_path"], answer["adv2_clean"], answer["adv2_robust"],
                                                     tmp_path, eps, x, labels, seed)
    adv2 = train_cnn(cnn_data, epochs=1, seed=seed, adversarial=PGDSettings(eps=2 * eps, alpha=eps, steps=2))
    save_cnn(adv2, main, adversarial={"eps": 2 * eps})
    with fails("saved over the run's adv_cnn.pt"):
        checks.check_adv_cnn_exercise(main, answer["adv2_clean"], answer["adv2_robust"], tmp_path, eps, x, labels, seed)
    same_eps = tmp_path / "exercises" / "other" / "adv_cnn.pt"
    save_cnn(adv2, same_eps, adversarial={"eps": eps})
    with fails("trained at eps"):
        checks.check_adv_cnn_exercise(same_eps, answer["adv2_clean"], answer["adv2_robust"], tmp_path, eps, x, labels, seed)
    main.write_bytes(before)
    clean, robust = answer["adv2_clean"], answer["adv2_robust"]
    with fails("recompute adv2_clean"):
        checks.check_adv_cnn_exercise(answer["adv2_path"], clean + 0.25, robust, tmp_path, eps, x, labels, seed)
    if clean != robust:
        with fails("swapped"):
            checks.check_adv_cnn_exercise(answer["adv2_path"], robust, clean, tmp_path, eps, x, labels, seed)
    with fails("must be the path"):
        checks.check_adv_cnn_exercise(None, clean, robust, tmp_path, eps, x, labels, seed)


# ---- 06 -------------------------------------------------------------------------------------------
IDC_PAPER, DIFFPURE, RDC = ("IDC, paper CIFAR-10 preset", "DiffPure (score network + WideResNet-28-10)",
                            "diffusion classifier in the style of RDC")


@pytest.fixture(scope="module")
def cost_table():
    """The notebook's table without timing, plus made-up seconds (only the checker's hints read them)."""
    from dataclasses import replace

    from idc_lite.comparisons.costs import alternative_rows, idc_row
    from idc_lite.training.presets import get_preset

    rows = [idc_row("IDC, digits preset", get_preset("digits").model, timed=False),
            idc_row(IDC_PAPER, get_preset("cifar10").model, timed=False)] + alternative_rows(timed=False)
    return [replace(r, seconds_per_prediction=0.001 * (i + 1) ** 3) for i, r in enumerate(rows)]


def test_06_cost_ratios(cost_table):
    from idc_lite.training.presets import get_preset

    answer = solution_region("06_efficiency", "ex06_1_solution", table=cost_table,
                             IDC_PRESETS={"cifar10": IDC_PAPER, "digits": "IDC, digits preset"})
    assert "passed" in checks.check_cost_ratios(answer["idc_per_diffpure"], answer["idc_per_rdc"], cost_table,
                                                IDC_PAPER, DIFFPURE, RDC)
    assert answer["idc_per_diffpure"] > 100 and answer["idc_per_rdc"] > 1000    # 27 GFLOP against 3.7 and 53 TFLOP
    rows = {r.method: r for r in cost_table}
    right = answer["idc_per_rdc"]

    def check(value):
        return checks.check_cost_ratios(value, right, cost_table, IDC_PAPER, DIFFPURE, RDC)

    idc, dp = rows[IDC_PAPER], rows[DIFFPURE]
    with fails("upside down"):
        check(idc.flops_per_prediction / dp.flops_per_prediction)
    with fails("one network call of each"):
        check((dp.flops_per_prediction / dp.network_calls) / (idc.flops_per_prediction / idc.network_calls))
    with fails("compares parameters"):
        check(dp.parameters / idc.parameters)
    with fails("measured seconds"):
        check(dp.seconds_per_prediction / idc.seconds_per_prediction)
    with fails("divides by the row 'IDC, digits preset'"):
        check(dp.flops_per_prediction / rows["IDC, digits preset"].flops_per_prediction)
    with fails("is wrong"):
        check(answer["idc_per_diffpure"] * 1.5)
    with fails("must be a number"):
        check(None)
    with fails("idc_per_rdc is upside down"):
        checks.check_cost_ratios(answer["idc_per_diffpure"], 1 / right, cost_table, IDC_PAPER, DIFFPURE, RDC)
    assert get_preset("cifar10").model.unet.model_channels == 64      # what 06.2 doubles


def test_06_wide_unet_flops(cost_table):
    from idc_lite.model.unet import UNet, flops_per_call
    from idc_lite.training.presets import get_preset

    paper_idc = next(r for r in cost_table if r.method == IDC_PAPER)
    answer = solution_region("06_efficiency", "ex06_2_solution", paper_idc=paper_idc)
    config = get_preset("cifar10").model
    wide, factor = answer["wide_flops_per_prediction"], answer["width_factor"]
    assert "passed" in checks.check_wide_unet_flops(wide, factor, config)
    assert 3.5 < factor < 4.5        # a 3x3 convolution's work grows with the square of the width
    calls = paper_idc.network_calls
    with fails("one U-Net call"):
        checks.check_wide_unet_flops(wide / calls, factor, config)
    with fails("multiply-adds"):
        checks.check_wide_unet_flops(wide / 2, factor, config)
    with fails("the preset itself"):
        checks.check_wide_unet_flops(paper_idc.flops_per_prediction, factor, config)
    with fails("wide_flops_per_prediction is wrong"):
        checks.check_wide_unet_flops(wide * 1.01, factor, config)
    with fails("upside down"):
        checks.check_wide_unet_flops(wide, 1 / factor, config)
    params = (sum(p.numel() for p in UNet(answer["wide_unet"].config).parameters())
              / sum(p.numel() for p in UNet(config.unet).parameters()))
    with fails("compares parameters"):
        checks.check_wide_unet_flops(wide, params, config)
    with fails("width_factor is wrong"):
        checks.check_wide_unet_flops(wide, 2.0, config)
    assert flops_per_call(UNet(config.unet), config.image_shape) * calls == paper_idc.flops_per_prediction


OUTSIDE_STEP = 0.3      # a name of the "notebook" that a submission must not rely on (the check's budget)


def test_04_challenge_submission():
    solution = solution_functions("04_attack", "ex04_4_solution")["my_attack"]
    assert "passed" in checks.check_challenge_submission(solution)
    assert "passed" in checks.check_challenge_submission(solution, seed=3)

    def unchanged(model, images, labels, generator, params, start=None):
        return images

    def downhill(model, images, labels, generator, params, start=None):
        return solution(model, images, labels, generator, {**params, "eps": -params["eps"]}).clamp(0, 1)

    def unbounded(model, images, labels, generator, params, start=None):
        from idc_lite.evaluation.attacks import PGDSettings, pgd
        x = pgd(model, images, labels, PGDSettings(eps=params["eps"], alpha=params["eps"] / 4, steps=10, loss="margin"),
                generator)
        return (images + 3 * (x - images)).clamp(0, 1)

    def notebook_name(model, images, labels, generator, params, start=None):
        return (images + OUTSIDE_STEP * torch.sign(solution(model, images, labels, generator, params) - images)).clamp(0, 1)

    def unanswered(model, images, labels, generator, params, start=None):
        raise NotImplementedError()

    def random_signs(model, images, labels, generator, params, start=None):
        return (images + params["eps"] * torch.sign(torch.randn(images.shape, generator=generator))).clamp(0, 1)

    with fails("returned the clean images unchanged"):
        checks.check_challenge_submission(unchanged)
    with fails("out of budget"):
        checks.check_challenge_submission(unbounded)
    with fails("without the notebook's names"):
        checks.check_challenge_submission(notebook_name)
    with fails("not answered yet"):
        checks.check_challenge_submission(unanswered)
    with fails("define your attack with def"):
        checks.check_challenge_submission(lambda model, images, labels, generator, params, start=None: images * 0.9)
    with pytest.raises(ExerciseCheckFailed):
        checks.check_challenge_submission(downhill)
    with fails("takes the accuracy from"):          # noise of the budget's size is no attack
        checks.check_challenge_submission(random_signs)


def test_checker_messages_never_print_the_answer():
    """A failed check gives hints, not the number a student could paste in."""
    reference = label_image_diagnostics(make_label_images(100, (3, 32, 32)))["min_off_diagonal_distance"]
    with pytest.raises(ExerciseCheckFailed) as failure:
        checks.check_label_image_distances(0.5, 0.5)
    assert f"{reference:.4g}" not in str(failure.value) and f"{reference:.3f}" not in str(failure.value)
    assert json.dumps(str(failure.value))        # plain text



def test_05_claim_verdict():
    answer = solution_functions("05_baselines", "ex05_3_solution")["claim_verdict"]
    assert "passed" in checks.check_claim_verdict(answer)
    with fails("the estimate's sign is not enough"):     # the mistake the rule exists to prevent
        checks.check_claim_verdict(lambda d: "supported" if d["difference"] > 0 else "contradicted")
    with fails("starts at exactly 0"):
        checks.check_claim_verdict(lambda d: "supported" if d["low"] >= 0 else answer(d))
    with fails("another verdict"):
        checks.check_claim_verdict(lambda d: "inconclusive at this n")        # a hard-coded answer
    with fails("another verdict"):
        checks.check_claim_verdict(lambda d: "inconclusive" if d["low"] <= 0 <= d["high"] else answer(d))   # wrong words
    with fails("verdict strings"):
        checks.check_claim_verdict(lambda d: d["low"] > 0)
    with fails("not answered yet"):
        def untouched(d):
            raise NotImplementedError()
        checks.check_claim_verdict(untouched)


def test_07_forward_diffusion_to_t_star():
    answer = solution_functions("07_diffusion_defences", "ex07_1_solution")["my_diffuse"]
    assert "passed" in checks.check_diffuse_to_t_star(answer)
    with fails("under a square root"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: ab[t] * (2 * x - 1) + (1 - ab[t]) * n)
    with fails("diffused on the"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: ab[t].sqrt() * x + (1 - ab[t]).sqrt() * n)
    with fails("is read at t"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: ab[t - 1].sqrt() * (2 * x - 1) + (1 - ab[t - 1]).sqrt() * n)
    with fails("swapped"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: (1 - ab[t]).sqrt() * (2 * x - 1) + ab[t].sqrt() * n)
    with fails("noise term is missing"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: ab[t].sqrt() * (2 * x - 1))
    with fails("differs from the forward diffusion"):                 # right only at one t*: a hard-coded index
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: ab[100].sqrt() * (2 * x - 1) + (1 - ab[100]).sqrt() * n)
    with fails("shape"):
        checks.check_diffuse_to_t_star(lambda x, t, n, ab: (ab[t].sqrt() * (2 * x - 1) + (1 - ab[t]).sqrt() * n)[0])


def test_07_class_errors():
    answer = solution_functions("07_diffusion_defences", "ex07_2_solution")["my_class_errors"]
    assert "passed" in checks.check_class_errors(answer)

    def variant(scale=True, against_image=False, summed=False, fresh=False, sign=1.0, transpose=False):
        def errors(denoiser, schedule, x, timesteps, noises, num_classes):
            x0 = x * 2 - 1 if scale else x
            out = torch.zeros(len(x), num_classes)
            for y in range(num_classes):
                for t, e in zip(timesteps, noises):
                    noise = torch.randn_like(x0) if fresh else e.expand_as(x0)
                    tb = torch.full((len(x),), t)
                    eps = denoiser(schedule.q_sample(x0, tb, noise), tb, torch.full((len(x),), y))
                    err = (eps - (x0 if against_image else noise)).pow(2).flatten(1).mean(1)
                    out[:, y] += err if summed else err / len(timesteps)
            out = sign * out
            return out.T.contiguous().view(len(x), num_classes) if transpose else out
        return errors

    with fails("noised on the"):
        checks.check_class_errors(variant(scale=False))
    with fails("against the clean image"):
        checks.check_class_errors(variant(against_image=True))
    with fails("summed over the timesteps"):
        checks.check_class_errors(variant(summed=True))
    with fails("the same noises for every class"):                    # fresh noise per class: the pairing lost
        checks.check_class_errors(variant(fresh=True))
    with fails("these are the logits"):
        checks.check_class_errors(variant(sign=-1.0))
    with fails("rows and columns"):
        checks.check_class_errors(variant(transpose=True))
    with fails("not answered yet"):
        def untouched(*args):
            raise NotImplementedError()
        checks.check_class_errors(untouched)
