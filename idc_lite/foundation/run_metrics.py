"""What each notebook records for the report, as one typed schema.

Every notebook ends by writing a record (``run_dir/metrics/<notebook>.json``); the report, the sweep,
the claims and the later notebooks read them back through :func:`read_metrics`, which returns a
:class:`RunMetrics` with one typed field per notebook.  Nobody reads these files by string keys: a
field added here is a field everybody sees, and a record written by an older kit loads with the
defaults below for what it lacks (its unknown keys are kept in ``extra``).

Nested results stay plain dicts: ``adaptive_protocol`` and the ``paper_protocol`` values are
:func:`idc_lite.evaluation.protocol.evaluate_attacks` results; ``sanity_checks`` are
:mod:`idc_lite.evaluation.sanity` records.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.files import atomic_write_json


@dataclass
class NotebookMetrics:
    """Base of the per-notebook records; ``NOTEBOOK`` is the notebook's file stem."""
    NOTEBOOK: ClassVar[str] = ""
    extra: dict = field(default_factory=dict)   # keys of an older or newer kit, kept as they were

    def to_dict(self) -> dict:
        d = asdict(self)
        return {**d.pop("extra"), **d}

    @classmethod
    def from_dict(cls, d: dict) -> "NotebookMetrics":
        if not isinstance(d, dict):
            raise InputError(f"the {cls.NOTEBOOK} metrics must be a JSON object, got {type(d).__name__}")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in known}, extra={k: v for k, v in d.items() if k not in known})


@dataclass
class LabelImagesMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "01_label_images"
    num_classes: int = 0
    image_shape: list = field(default_factory=list)           # [C, H, W]
    label_seed: int = 0
    max_off_diagonal_cosine: float | None = None
    max_off_diagonal_cosine_centered: float | None = None
    min_off_diagonal_distance: float | None = None


@dataclass
class TrainingMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "02_train_classifier"
    test_accuracy: float | None = None                         # mean over draws of one-draw accuracy
    test_examples: int = 0
    accuracy_over_draws: dict = field(default_factory=dict)    # idc_lite.model.accuracy.accuracy_over_draws
    accuracy_protocol: str = ""
    n_params: int | None = None
    flops_per_network_call: int | None = None
    network_calls_per_prediction: int | None = None
    flops_per_prediction: int | None = None
    epochs: int = 0
    train_seconds: float | None = None
    preset: str = ""
    data: str = ""
    seed: int = 0
    checkpoint: str = "model.pt"
    train_precision: list = field(default_factory=list)
    trained_elsewhere: str | None = None


@dataclass
class TrajectoryMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "03_denoising_trajectories"
    step_accuracy: list = field(default_factory=list)          # accuracy of each sampler step's x0 prediction
    steps: list = field(default_factory=list)
    noop_step_max_diff: float | None = None
    unstable_images: int | None = None
    draws: int = 0
    images_checked: int = 0
    seed: int = 0


@dataclass
class AttackSettings:
    """The attack settings notebook 04 used; notebook 05 attacks its models with the same."""
    steps: int = 0
    eot_samples: int = 1
    square_queries: int = 0
    scoring_draws: int = 1
    gradient_twin: bool = False          # runs before the twin attacked the 4-call model
    gradient_precision: str = "fp32"
    cnn_train_examples: int | None = None
    cascade: bool = False                # runs before the cascade ran every attack on every example
    apgd_steps: int = 0                  # the cascade's APGD iterations and EOT draws per iteration
    apgd_eot: int = 0
    rescoring_draws: int = 0             # draws deciding an example only a challenger breaks
    apgd_tail_eot: int = 0               # EOT draws of the cascade's last white-box APGD at the main budget (0: none)
    autoattack_queries: int | None = None   # deterministic models: AutoAttack standard's Square queries (None: not run)
    autoattack_iterations: int = 100
    lab: bool = False                    # lab sizes (fewer examples, a shorter suite): for a lab hour, never a result


@dataclass
class AttackMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "04_attack"
    model: str = "model.pt"
    examples_file: str = "eval_examples.pt"
    num_examples: int = 0
    sanity_examples: int = 0
    eps: float = 0.0                                           # the main budget (L-inf, in [0, 1] units)
    paper_eps: float = 0.0
    norm: str = "Linf"
    seed: int = 0
    cost: dict = field(default_factory=dict)                   # idc_lite.comparisons.baselines.prediction_cost
    paper_protocol: dict = field(default_factory=dict)         # 'paper@B' -> evaluate_attacks() result
    adaptive_protocol: dict = field(default_factory=dict)      # evaluate_attacks() result at eps
    adaptive_protocol_secondary: dict | None = None            # evaluate_attacks() result at secondary_eps
    secondary_eps: float | None = None
    budget_choice: dict | None = None                          # idc_lite.evaluation.sanity.choose_main_budget
    other_scoring_rules: list = field(default_factory=list)
    sanity_checks: list = field(default_factory=list)
    autoattack_rand: dict | None = None
    cnn_file: str = "cnn.pt"
    settings: AttackSettings = field(default_factory=AttackSettings)
    evaluation: dict | None = None                             # idc-lite evaluate's blocks and processes (None: 04's own)

    @classmethod
    def from_dict(cls, d: dict) -> "AttackMetrics":
        out = super().from_dict(d)
        if isinstance(out.settings, dict):
            known = {f.name for f in fields(AttackSettings)}
            out.settings = AttackSettings(**{k: v for k, v in out.settings.items() if k in known})
        return out

    def sanity_check(self, starts_with: str) -> dict | None:
        """The sanity-check record whose name starts with ``starts_with`` (None when absent)."""
        return next((c for c in self.sanity_checks if c.get("check", "").startswith(starts_with)), None)


@dataclass
class BaselinesMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "05_baselines"
    examples_file: str = "eval_examples.pt"
    num_examples: int = 0
    eps: float = 0.0
    paper_eps: float = 0.0
    norm: str = "Linf"
    seed: int = 0
    secondary_eps: float | None = None
    comparisons: list = field(default_factory=list)            # idc_lite.evaluation.comparison.paired_comparisons
    models: dict = field(default_factory=dict)                 # name -> {"cost": ..., "protocols": {...}}
    files: dict = field(default_factory=dict)
    adversarial_training: dict = field(default_factory=dict)
    ablation_epochs: int | None = None
    sweep_examples: int = 0
    sweeps: dict = field(default_factory=dict)


@dataclass
class EfficiencyMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "06_efficiency"
    rows: list = field(default_factory=list)                   # idc_lite.comparisons.costs.CostRow dicts
    points: list = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    timing: dict = field(default_factory=dict)
    flop_counter: str = ""


@dataclass
class DefencesMetrics(NotebookMetrics):
    NOTEBOOK: ClassVar[str] = "07_diffusion_defences"
    examples_file: str = "eval_examples.pt"
    eps: float = 0.0
    secondary_eps: float | None = None
    norm: str = "Linf"
    seed: int = 0
    settings: dict = field(default_factory=dict)               # idc_lite.comparisons.diffusion_defences.DefenceSettings
    defences: dict = field(default_factory=dict)               # name -> {"kind", "build", "clean_test", "protocols"}
    comparisons: list = field(default_factory=list)            # diffusion_defences.defence_comparisons
    costs: list = field(default_factory=list)                  # measured CostRow dicts: IDC, CNNs, defences
    test_examples: int = 0


SCHEMAS: tuple[type[NotebookMetrics], ...] = (LabelImagesMetrics, TrainingMetrics, TrajectoryMetrics, AttackMetrics,
                                              BaselinesMetrics, EfficiencyMetrics, DefencesMetrics)
_BY_NOTEBOOK = {s.NOTEBOOK: s for s in SCHEMAS}


@dataclass
class RunMetrics:
    """A run folder's records, one field per notebook (None: that notebook has not written one)."""
    label_images: LabelImagesMetrics | None = None
    training: TrainingMetrics | None = None
    trajectories: TrajectoryMetrics | None = None
    attack: AttackMetrics | None = None
    baselines: BaselinesMetrics | None = None
    efficiency: EfficiencyMetrics | None = None
    defences: DefencesMetrics | None = None

    def to_dict(self) -> dict[str, dict]:
        """{notebook stem: record} as the files hold them (what summary.json stores)."""
        return {m.NOTEBOOK: m.to_dict() for m in self.records()}

    def records(self) -> list[NotebookMetrics]:
        return [getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None]

    @classmethod
    def from_dict(cls, records: dict[str, dict]) -> "RunMetrics":
        """From {notebook stem: record}; stems the kit does not know are ignored."""
        out = cls()
        for name, schema in zip((f.name for f in fields(cls)), SCHEMAS):
            if schema.NOTEBOOK in (records or {}):
                setattr(out, name, schema.from_dict(records[schema.NOTEBOOK]))
        return out


def write_metrics(run_dir: str | Path, metrics: NotebookMetrics) -> Path:
    """Store a notebook's record as ``run_dir/metrics/<notebook>.json`` (atomically)."""
    if not isinstance(metrics, NotebookMetrics) or not metrics.NOTEBOOK:
        raise InputError(f"metrics must be one of {[s.__name__ for s in SCHEMAS]}, got {type(metrics).__name__}")
    return atomic_write_json(metrics.to_dict(), Path(run_dir) / "metrics" / f"{metrics.NOTEBOOK}.json")


def read_metrics(run_dir: str | Path) -> RunMetrics:
    """Every record in ``run_dir/metrics`` (an absent folder gives an empty :class:`RunMetrics`)."""
    folder = Path(run_dir) / "metrics"
    records = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}
    return RunMetrics.from_dict({k: v for k, v in records.items() if k in _BY_NOTEBOOK})
