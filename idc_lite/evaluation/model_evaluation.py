"""Notebook 04's evaluation of one model, as one settings type and one result type, shared by the notebook and
``idc-lite evaluate``.

:class:`EvaluationSettings` holds what notebook 04's ``parameters`` cell sets (its defaults are the cell's; a test
keeps them equal) and its smoke sizes in one place.  :class:`Evaluation` runs the steps, in the notebook's order:

    evaluation = Evaluation(model, attacker, x, labels, settings)           # or Evaluation.recorded(...)
    budgets = evaluation.main_budget(cnn)          # where the undefended CNN falls
    paper = evaluation.paper_protocols()           # {budget: result}
    adaptive = evaluation.adaptive_protocols(cnn)  # main and secondary budget, other scoring rules
    checks = evaluation.sanity_checks(cnn, num_classes)
    worst = evaluation.worst_adversarial()         # (N, C, H, W): the attack behind each example's worst case
    record = evaluation.metrics(cost=..., cnn_file=...)   # notebook 04's record (AttackMetrics)

An evaluation made earlier (a finished ``idc-lite evaluate``, read by :func:`idc_lite.runs.read_evaluation`)
answers every step from its record, so a notebook shows it along the same path as a fresh one.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import torch

from idc_lite.evaluation import sanity
from idc_lite.evaluation.protocol import pick_worst, rescore
from idc_lite.evaluation.run_protocols import adaptive_protocol, paper_protocols, protocol_budgets
from idc_lite.evaluation.suites import DEFAULTS
from idc_lite.foundation.errors import InputError
from idc_lite.foundation.run_metrics import AttackMetrics, AttackSettings

LAB_EXAMPLES, LAB_SANITY_EXAMPLES = 8, 4     # a lab run's evaluated examples, and the first of them the sanity checks use


# A smoke run's CNN baselines (04, 05, 07) learn from at most this many training images: the CIFAR and MNIST
# presets' 10,000 would make the CNNs most of a smoke chain's time, and a smoke run only proves the path.  At
# least digits' whole training split (1,437), so a digits smoke run trains its CNNs on all of it, as before.
SMOKE_CNN_TRAIN_EXAMPLES = 1500


@dataclass
class EvaluationSettings:
    """Notebook 04's parameters, budgets in 1/255 (0 ``eps_255``: chosen where the undefended CNN falls;
    0 ``secondary_eps_255``: none).  The attack sizes are the kit's one set (:data:`~idc_lite.evaluation.suites.DEFAULTS`)."""
    seed: int = 0
    eps_255: float = 0.0
    budget_grid_255: str = "16,24,32,48,64"
    secondary_eps_255: float = 16.0
    paper_eps_255: float = 8.0
    num_examples: int = 100
    sanity_examples: int = 24
    steps: int = DEFAULTS.steps
    eot_samples: int = DEFAULTS.eot_samples
    square_queries: int = DEFAULTS.square_queries
    cascade: bool = True
    apgd_steps: int = DEFAULTS.apgd_steps
    apgd_eot: int = DEFAULTS.apgd_eot
    apgd_tail_eot: int = DEFAULTS.apgd_tail_eot
    rescoring_draws: int = DEFAULTS.rescoring_draws
    cnn_autoattack_queries: int = 5000
    scoring_draws: int = 5
    eps_sweep_255: str = "8,16,32,64,128"
    eot_curve: str = "1,2,16"
    paper_full_suite: bool = False
    autoattack_examples: int = 0
    cnn_epochs: int = 15
    cnn_train_examples: int = 0
    gradient_twin: bool = True
    gradient_precision: str = "auto"
    smoke: bool = False
    lab: bool = False
    budget_examples: int = 0     # test images the main budget is chosen on; 0: the evaluated ones

    @classmethod
    def from_parameters(cls, parameters: dict, smoke: bool = False, lab: bool = False) -> "EvaluationSettings":
        """The settings from a notebook's parameters (other names ignored), smoke-sized when ``smoke``, else
        lab-sized when ``lab``."""
        names = {f.name for f in fields(cls)} - {"smoke", "lab", "budget_examples"}
        settings = cls(**{k: v for k, v in parameters.items() if k in names})
        return settings.smoke_sized() if smoke else settings.lab_sized() if lab else settings

    def lab_sized(self) -> "EvaluationSettings":
        """A lab hour's sizes: the same attacks and checks on fewer examples with fewer steps, draws and queries, at
        the main budget only (notebook 04 in about a minute on a 2-core laptop with the shipped models).  Its figures
        are labelled as such; its numbers are looser bounds than the full settings' and never results.  The main
        budget is still chosen on the full settings' examples (PGD on the CNN, seconds), so a lab run attacks at the
        budget a full run chooses and 05 finds the shipped CNNs made for it."""
        sweep, curve = self.eps_sweep_255.split(","), [int(k) for k in self.eot_curve.split(",")]
        lab_curve = sorted({*curve[:2], min(4, max(curve))})
        return replace(self, lab=True, budget_examples=self.num_examples, num_examples=min(self.num_examples, LAB_EXAMPLES),
                       secondary_eps_255=0.0,
                       sanity_examples=min(self.sanity_examples, LAB_SANITY_EXAMPLES),
                       square_queries=min(self.square_queries, 50),
                       scoring_draws=min(self.scoring_draws, 3), apgd_steps=min(self.apgd_steps, 20),
                       apgd_eot=min(self.apgd_eot, 1),
                       apgd_tail_eot=min(self.apgd_tail_eot, 4), rescoring_draws=min(self.rescoring_draws, 8),
                       autoattack_examples=0, cnn_autoattack_queries=min(self.cnn_autoattack_queries, 100),
                       # the sweep's middle and largest budget: its curve still falls to chance, and 05 sweeps
                       # three more models over the same budgets (its times: the instructors' page)
                       eps_sweep_255=",".join(sweep[i] for i in sorted({(len(sweep) - 1) // 2, len(sweep) - 1})),
                       eot_curve=",".join(str(k) for k in lab_curve))

    @property
    def paper_max_steps(self) -> int | None:
        """The cap on the paper protocol's attack steps: 2 in a smoke run, 10 at lab sizes (its PGD-20), else none."""
        return 2 if self.smoke else 10 if self.lab else None

    @property
    def cost_batch(self) -> int:
        """Images per timed batch of the cost measurement (a smoke run proves the path, not the time; a lab run
        times a smaller batch, so its per-image figure is a looser one)."""
        return 8 if self.smoke else 16 if self.lab else 100

    def budget_selection(self, data) -> tuple:
        """``(x, labels)``: the test images of ``data`` the main budget is chosen on at lab sizes; ``(None, None)``
        (the evaluated examples) otherwise.  For :meth:`Evaluation.main_budget`."""
        n = self.budget_examples
        return (data.x_test[:n], data.y_test[:n]) if n else (None, None)

    def smoke_sized(self) -> "EvaluationSettings":
        """Tiny sizes that prove the code path (notebook 04 and ``idc-lite evaluate --smoke`` alike)."""
        sweep = self.eps_sweep_255.split(",")
        return replace(self, smoke=True, num_examples=min(self.num_examples, 6), sanity_examples=4, steps=2,
                       eot_samples=2, square_queries=4, scoring_draws=2, cnn_epochs=1, apgd_steps=3, apgd_eot=1,
                       apgd_tail_eot=min(self.apgd_tail_eot, 2), rescoring_draws=4,
                       autoattack_examples=min(self.autoattack_examples, 2),
                       cnn_train_examples=min(self.cnn_train_examples or SMOKE_CNN_TRAIN_EXAMPLES, SMOKE_CNN_TRAIN_EXAMPLES),
                       cnn_autoattack_queries=min(self.cnn_autoattack_queries, 10),
                       eps_sweep_255=",".join(sweep[:1] + sweep[-1:]), eot_curve=",".join(self.eot_curve.split(",")[:2]))

    @property
    def autoattack_options(self) -> dict:
        """AutoAttack-rand's iterations where they differ from its own (smoke runs: 2 iterations, 2 EOT draws)."""
        return {"n_iter": 2, "eot_iter": 2} if self.smoke else {}

    @property
    def eps_list(self) -> list[float]:
        """The accuracy-against-eps check's budgets, in [0, 1] units."""
        return [float(e) / 255 for e in self.eps_sweep_255.split(",")]

    @property
    def eot_list(self) -> list[int]:
        return [int(k) for k in self.eot_curve.split(",")]

    def attack_settings(self, gradient_precision: str, cnn_train_examples: int | None) -> AttackSettings:
        """What every adaptive attack runs with (recorded with the results): ``gradient_precision`` as the attacker
        resolved it, ``cnn_train_examples`` as the CNN was trained."""
        return AttackSettings(steps=self.steps, eot_samples=self.eot_samples, square_queries=self.square_queries,
                              scoring_draws=self.scoring_draws, gradient_twin=self.gradient_twin,
                              gradient_precision=gradient_precision, cnn_train_examples=cnn_train_examples,
                              cascade=self.cascade, apgd_steps=self.apgd_steps, apgd_eot=self.apgd_eot,
                              apgd_tail_eot=self.apgd_tail_eot, rescoring_draws=self.rescoring_draws,
                              autoattack_queries=self.cnn_autoattack_queries or None,
                              autoattack_iterations=2 if self.smoke else 25 if self.lab else 100, lab=self.lab)


@dataclass
class Budgets:
    """The budgets of an evaluation (L-inf, [0, 1] units) and how the main one was chosen (None: set)."""
    eps: float
    secondary_eps: float | None
    paper_eps: float
    choice: dict | None = None

    @property
    def all(self) -> list[float]:
        return protocol_budgets(self.paper_eps, self.eps, self.secondary_eps)


@dataclass
class AdaptiveResults:
    """The adaptive protocol at the main budget and the secondary one (None: none), and the other scoring rules."""
    main: dict
    secondary: dict | None
    other_rules: list = field(default_factory=list)


class Evaluation:
    """One model evaluated on ``x`` (N, C, H, W) in [0, 1] with ``labels`` (N,), step by step; or, made with
    :meth:`recorded`, an evaluation done earlier that answers each step from its record."""

    def __init__(self, model, attacker, x: torch.Tensor, labels: torch.Tensor, settings: EvaluationSettings,
                 attack: AttackSettings):
        self.model, self.attacker, self.x, self.labels = model, attacker, x, labels
        self.settings, self.attack = settings, attack
        self.record: AttackMetrics | None = None
        self.budgets: Budgets | None = None
        self.paper: dict | None = None
        self.adaptive: AdaptiveResults | None = None
        self.checks: list | None = None
        self.adversarial: dict = {}          # each adaptive attack's examples at the main budget, by name
        self._worst: torch.Tensor | None = None

    @classmethod
    def recorded(cls, model, attacker, record: AttackMetrics, x: torch.Tensor, labels: torch.Tensor,
                 worst_adversarial: torch.Tensor, adversarial: dict) -> "Evaluation":
        """An evaluation made earlier: its examples, settings and results stand for every step."""
        settings = EvaluationSettings(seed=record.seed, num_examples=len(x), sanity_examples=record.sanity_examples,
                                      paper_eps_255=255 * record.paper_eps)
        out = cls(model, attacker, x, labels, settings, record.settings)
        out.record, out.adversarial, out._worst = record, adversarial, worst_adversarial
        out.budgets = Budgets(record.eps, record.secondary_eps, record.paper_eps, record.budget_choice)
        out.paper = {b: record.paper_protocol[f"paper@{255 * b:.0f}"] for b in out.budgets.all
                     if f"paper@{255 * b:.0f}" in record.paper_protocol}
        out.adaptive = AdaptiveResults(record.adaptive_protocol, record.adaptive_protocol_secondary,
                                       record.other_scoring_rules)
        out.checks = record.sanity_checks
        return out

    # ---- the steps, in notebook 04's order -----------------------------------------------------------------
    def main_budget(self, cnn, x: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> Budgets:
        """The budgets: ``eps_255`` when set, else the smallest of ``budget_grid_255`` at which PGD takes the
        undefended ``cnn`` to at most 5 % on ``x`` and ``labels`` (default: the evaluated examples)."""
        if self.budgets is None:
            s = self.settings
            if x is not None and labels is None:
                labels = self.labels[:len(x)]
            choice = None if s.eps_255 else sanity.choose_main_budget(
                cnn, self.x if x is None else x, self.labels if x is None else labels,
                s.budget_grid_255.split(","), steps=s.steps, seed=s.seed)
            eps_255 = choice["eps_255"] if choice else s.eps_255
            secondary = s.secondary_eps_255 / 255 if s.secondary_eps_255 and s.secondary_eps_255 != eps_255 else None
            self.budgets = Budgets(eps_255 / 255, secondary, s.paper_eps_255 / 255, choice)
        return self.budgets

    def paper_protocols(self) -> dict[float, dict]:
        """The paper protocol at its budget, the main one and the secondary one: {budget: result}."""
        if self.paper is None:
            self.paper = paper_protocols(self.model, self.x, self.labels, self._budgets().all, seed=self.settings.seed,
                                         full=self.settings.paper_full_suite,
                                         max_steps=self.settings.paper_max_steps)
        missing = [f"{255 * b:g}/255" for b in self._budgets().all if b not in self.paper]
        if missing:
            raise InputError(f"the recorded evaluation has no paper-protocol result at {', '.join(missing)}: evaluate "
                             "with --protocol both and the same budgets")
        return self.paper

    def adaptive_protocols(self, cnn, progress: bool = False, other_rules: bool = True) -> AdaptiveResults:
        """The adaptive protocol (transfer from ``cnn``) at the main budget, keeping every attack's examples, then
        at the secondary one; the main budget's examples rescored under the other rules."""
        if self.adaptive is None:
            s, b = self.settings, self._budgets()
            main = adaptive_protocol(self.model, self.x, self.labels, b.eps, self.attack, seed=s.seed,
                                     sources={"cnn": cnn}, gradient_model=self.attacker, examples=self.adversarial,
                                     progress=progress)
            secondary = adaptive_protocol(self.model, self.x, self.labels, b.secondary_eps, self.attack, seed=s.seed,
                                          sources={"cnn": cnn}, gradient_model=self.attacker,
                                          main_budget=False) if b.secondary_eps else None   # examples not kept
            rules = rescore(self.model, self.x, self.labels, self.adversarial, ["majority", "all"],
                            draws=s.scoring_draws, seed=s.seed) if other_rules else []   # one set of draws, both rules
            self.adaptive = AdaptiveResults(main, secondary, rules)
        return self.adaptive

    def challenger_breaks(self) -> dict | None:
        """The cascade's challenger checks judged on this evaluation's own images (None without a cascade)."""
        if not self.attack.cascade or self.adaptive is None:
            return None
        return sanity.cascade_challenger_breaks(self.model, self.adaptive.main, self.adversarial, self.labels,
                                                self.attack, self.settings.seed)

    def sanity_checks(self, cnn, num_classes: int, challenger_breaks: dict | None = None) -> list[dict]:
        """Every sanity check (docs/evaluation.md's list); the costlier ones on the first ``sanity_examples``;
        ``challenger_breaks``: the cascade's challenger checks judged already (blocks of ``idc-lite evaluate``)."""
        if self.checks is None:
            s = self.settings
            self.checks = sanity.run_sanity_checks(
                self.model, cnn, self.adaptive.main, self.adversarial, self.x, self.labels, eps=self._budgets().eps,
                eps_list=s.eps_list, eot_list=s.eot_list, settings=self.attack,
                sanity_examples=min(s.sanity_examples, len(self.x)), seed=s.seed,
                num_classes=num_classes, gradient_model=self.attacker,
                challenger_breaks=challenger_breaks)
        return self.checks

    def worst_adversarial(self) -> torch.Tensor:
        """(N, C, H, W): per example, the adversarial image of the attack behind its worst case."""
        if self._worst is None:
            self._worst = pick_worst({a["name"]: a["per_example"] for a in self.adaptive.main["attacks"]},
                                     self.adversarial)
        return self._worst

    def metrics(self, *, cost: dict, cnn_file: str, model: str = "model.pt", examples_file: str = "eval_examples.pt",
                autoattack: dict | None = None, evaluation: dict | None = None) -> AttackMetrics:
        """Notebook 04's record of this evaluation."""
        b = self._budgets()
        return AttackMetrics(
            model=model, examples_file=examples_file, num_examples=len(self.x),
            sanity_examples=min(self.settings.sanity_examples, len(self.x)) if self.checks else 0, eps=b.eps,
            paper_eps=b.paper_eps, norm="Linf", seed=self.settings.seed, cost=cost,
            paper_protocol={f"paper@{255 * k:.0f}": r for k, r in (self.paper or {}).items()},
            adaptive_protocol=self.adaptive.main if self.adaptive else {},
            adaptive_protocol_secondary=self.adaptive.secondary if self.adaptive else None,
            secondary_eps=b.secondary_eps, budget_choice=b.choice,
            other_scoring_rules=self.adaptive.other_rules if self.adaptive else [], sanity_checks=self.checks or [],
            autoattack_rand=autoattack, cnn_file=cnn_file, settings=self.attack,
            evaluation=evaluation if evaluation is not None else (self.record.evaluation if self.record else None))

    def _budgets(self) -> Budgets:
        if self.budgets is None:
            raise InputError("choose the budgets first: evaluation.main_budget(cnn)")
        return self.budgets

