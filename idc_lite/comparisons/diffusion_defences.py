"""Notebook 07's diffusion defences beside IDC (the paper's claims C1 and C3a): DiffPure-style purification
and an RDC-style diffusion classifier, built on the run's training split with IDC's own U-Net, their clean
accuracy on the test split, their attacks (IDC's examples, budgets, attack settings and seeds from notebook
04) and their cost per prediction beside IDC's and the CNNs' (one counter, one timer, one batch).

A defence's result has the shape of a notebook 05 model: ``{"adaptive": evaluate_attacks() result at the main
budget, "adaptive_secondary": ... at the secondary one}``, on the first ``examples`` of 04's examples.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from idc_lite.comparisons.baselines import prediction_cost
from idc_lite.defences.ddpm import DDPMConfig, DenoiserRecipe
from idc_lite.defences.likelihood import DiffusionLikelihoodClassifier, spread_timesteps
from idc_lite.defences.purification import DiffPure
from idc_lite.defences.store import load_or_train_denoiser
from idc_lite.evaluation.protocol import evaluate_attacks
from idc_lite.evaluation.run_protocols import adaptive_protocol
from idc_lite.evaluation.sanity import cascade_checks_of
from idc_lite.evaluation.scoring import score_under_rule
from idc_lite.evaluation.suites import deterministic_cascade_suite_for
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackSettings
from idc_lite.foundation.shared_work import shareable
from idc_lite.foundation.streams import seeded
from idc_lite.foundation.uncertainty import estimate, paired_difference
from idc_lite.foundation.validation import check_int

PURIFICATION, CLASSIFIER = "DiffPure-style purification", "RDC-style diffusion classifier"
KINDS = {PURIFICATION: "diffusion purification", CLASSIFIER: "diffusion classifier"}


@dataclass(frozen=True)
class DefenceSettings:
    """What notebook 07 builds and how much of 04's evaluation it repeats.

    ``t_star``/``reverse_steps``: DiffPure's diffusion time (of the 1,000-step linear schedule) and its
    DDIM reverse steps (eta 1); ``timesteps``, ``low``, ``high``: the likelihood classifier's fixed
    timesteps, spread over that fraction of the schedule; ``epochs``: the denoisers' training, with at
    most ``max_batches`` batches an epoch (0: the whole training split; smoke runs take 2, so that a
    smoke run's cost does not grow with the training split);
    ``purification_examples``/``classifier_examples``: how many of 04's examples each faces (the first
    ones, so that IDC's per-example results pair with them)."""
    t_star: int = 100
    reverse_steps: int = 5
    timesteps: int = 4
    low: float = 0.05
    high: float = 0.5
    epochs: int = 40
    purification_examples: int = 100
    classifier_examples: int = 50
    max_batches: int = 0

    def __post_init__(self):
        check_int(self.t_star, "t_star", 1)
        check_int(self.reverse_steps, "reverse_steps", 1)
        if self.reverse_steps > self.t_star + 1:
            raise InputError(f"reverse_steps must be at most t_star + 1 = {self.t_star + 1}, got {self.reverse_steps}")
        for name in ("timesteps", "epochs", "purification_examples", "classifier_examples"):
            check_int(getattr(self, name), name, 1)
        check_int(self.max_batches, "max_batches", 0)
        if not 0 <= self.low < self.high <= 1:
            raise InputError(f"the likelihood classifier's timesteps need 0 <= low < high <= 1, got {self.low}, {self.high}")

    def to_dict(self) -> dict:
        return asdict(self)


def build_defences(run: Path, data, cnn: torch.nn.Module, unet_config, settings: DefenceSettings, *, seed: int,
                   progress: bool = False) -> tuple[dict, dict]:
    """The two defences on ``data``'s training split, with ``unet_config`` (IDC's U-Net, dropout off):
    ({name: model in eval mode}, {name: {"file", "seconds", "reused", "settings"}}).  Each denoiser is
    loaded from ``run`` when made with exactly these settings, else trained there.  DiffPure classifies
    with ``cnn`` (the run's standard CNN, as DiffPure classifies with a standard classifier)."""
    unet = dataclasses.replace(unet_config, dropout=0.0)
    recipe = DenoiserRecipe(epochs=settings.epochs, seed=seed, max_batches=settings.max_batches)
    ddpm = DDPMConfig()
    info, models = {}, {}
    for name, file, labels in ((PURIFICATION, "ddpm.pt", None), (CLASSIFIER, "ddpm_class_conditional.pt", data.y_train)):
        started = time.perf_counter()
        denoiser, schedule, artefact = load_or_train_denoiser(
            run / file, data.x_train, unet, ddpm, recipe, data_info=data.info, labels=labels,
            num_classes=data.num_classes if labels is not None else None, progress=progress)
        if name == PURIFICATION:
            models[name] = DiffPure(denoiser, schedule, cnn, settings.t_star, settings.reverse_steps).eval()
            described = {"t_star": settings.t_star, "reverse_steps": settings.reverse_steps, "eta": 1.0,
                         "reverse_timesteps": models[name].steps, "classifier": "the run's standard CNN"}
        else:
            timesteps = spread_timesteps(schedule, settings.timesteps, settings.low, settings.high)
            models[name] = DiffusionLikelihoodClassifier(denoiser, schedule, data.image_shape, timesteps, seed=seed).eval()
            described = {"timesteps": timesteps, "noises": "one per timestep, fixed (seed's stream "
                                                            "'likelihood-classifier/noise')"}
        info[name] = {"file": artefact.path.name, "reused": artefact.exists, "seconds": round(time.perf_counter() - started, 1),
                      "settings": {**described, "network_calls": models[name].network_calls(),
                                   "ddpm": ddpm.to_dict(), "recipe": recipe.to_dict()}}
    return models, info


def clean_accuracy(model, x: torch.Tensor, labels: torch.Tensor, *, seed: int, draws: int) -> dict:
    """Clean accuracy on (x, labels) with its 95 % interval: one-draw scores averaged over ``draws``
    draws for a random model (bootstrap interval), a deterministic one scored once (Wilson)."""
    check_int(draws, "draws", 1)
    scores = score_under_rule(model, x, labels, "one", seeded(seed, "defences/clean"), draws, batch_size=64)
    return estimate(scores, "wilson" if draws == 1 else "bootstrap")


@shareable
def evaluate_defence(name: str, model, x, labels, *, eps: float, secondary_eps: float | None, settings: AttackSettings,
                     cnn, seed: int, progress: bool = False) -> dict:
    """One defence under the strongest suite the kit has for its kind, at both budgets: DiffPure (random)
    under IDC's cascade (gradients through every reverse step with EOT over its noise, its one-shot
    surrogate first, BPDA as a challenger, the transfer from the standard CNN), scored over
    ``settings.scoring_draws`` draws; the likelihood classifier (deterministic) under
    :func:`~idc_lite.evaluation.suites.deterministic_cascade_suite_for`, scored once.  The main budget's
    result carries the cascade's sanity checks (``sanity_checks``,
    :func:`~idc_lite.evaluation.sanity.cascade_checks_of`), as IDC's in notebook 04 do, when 04's settings
    ran the suite as a cascade."""
    out = {}
    for key, budget in (("adaptive", eps), ("adaptive_secondary", secondary_eps)):
        if budget is None:
            continue
        adversarial = {} if key == "adaptive" else None     # the main budget's examples, for its sanity checks
        if name == PURIFICATION:
            out[key] = adaptive_protocol(model, x, labels, budget, settings, seed=seed, random_model=True,
                                         sources={"cnn": cnn}, main_budget=key == "adaptive", progress=progress,
                                         examples=adversarial)
        else:
            out[key] = evaluate_attacks(model, x, labels, deterministic_cascade_suite_for(budget, settings), seed=seed, draws=1,
                                sources={"cnn": cnn}, protocol="adaptive", cascade=True, progress=progress,
                                batch_size=25, examples=adversarial)
        if adversarial is not None and out[key].get("cascade"):    # 04 run with cascade=False: no stages to check
            out[key]["sanity_checks"] = cascade_checks_of(model, out[key], adversarial, x, labels, eps=budget,
                                                          settings=settings, seed=seed,
                                                          random_model=name == PURIFICATION)
    return out


def defence_comparisons(idc: dict, defences: dict) -> list[dict]:
    """IDC minus each defence on the same examples (the first ones of IDC's, as many as the defence
    faced), per protocol key both have: ``{"other", "protocol", "examples", "eps_255", "difference"}``."""
    rows = []
    for name, by_key in defences.items():
        for key, result in by_key.items():
            if key not in idc:
                continue
            n = result["examples"]
            rows.append({"reference": "IDC", "other": name, "protocol": key, "examples": n,
                         "eps_255": round(255 * result["attacks"][0]["settings"]["eps"]),
                         "difference": paired_difference(idc[key]["worst_case_per_example"][:n],
                                                         result["worst_case_per_example"])})
    return rows


def measured_costs(models: dict[str, torch.nn.Module], kinds: dict[str, str], image_shape, batch_size: int = 50) -> list[dict]:
    """Cost rows (:class:`idc_lite.comparisons.costs.CostRow` dicts) of the models trained in this run,
    all with :func:`~idc_lite.comparisons.baselines.prediction_cost` on the same batch and threads: FLOPs
    counted once per prediction, seconds measured (best of two batches)."""
    from idc_lite.comparisons.costs import MEASURED, CostRow

    rows = []
    for name, model in models.items():
        cost = prediction_cost(model, image_shape, batch_size=batch_size, repeats=2)
        calls = _network_calls(model, kinds[name])
        rows.append(CostRow(name, kinds[name], cost["parameters"], calls, cost["flops_per_prediction"],
                            cost["seconds_per_image"], "counted here (FlopCounterMode)", MEASURED,
                            f"batch {batch_size}, {cost['threads']} threads").to_dict())
    return rows


def _network_calls(model, kind: str) -> int:
    """Network calls per prediction: the denoiser's (DiffPure: plus its classifier's one), IDC's sampler's, a CNN's one."""
    if hasattr(model, "network_calls"):
        return model.network_calls() + (1 if kind == "diffusion purification" else 0)
    bridge = getattr(model, "bridge", None)
    return bridge.num_network_calls if bridge is not None else 1
