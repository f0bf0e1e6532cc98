"""What one prediction costs: IDC at the kit's presets beside the defences the paper compares with.

Every figure carries where it comes from (:data:`MEASURED`, :data:`COMPUTED`, :data:`QUOTED`):

- parameters and FLOPs are *computed* from an architecture: the network is built untrained on the
  ``meta`` device and one call is counted with torch's FlopCounterMode (2 FLOPs per multiply-add);
- seconds per prediction are *measured* on this machine: for IDC the whole classifier (every sampler
  step); for the alternatives one network call is timed and multiplied by the calls a prediction needs;
- robust accuracies of other methods are *quoted* with their source (:data:`LITERATURE`); the kit's own
  robust accuracies are *measured* by notebooks 04 and 05 and read from the run's metrics.

Notebook 06 (``06_efficiency.ipynb``) builds the table and the plot from these functions.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from idc_lite.comparisons.alternatives import DIFFPURE_CIFAR10, RDC_CIFAR10, ScoreNet, WideResNet, preact_resnet18
from idc_lite.foundation.cost_meter import count_flops, seconds_per_call
from idc_lite.foundation.run_metrics import RunMetrics
from idc_lite.foundation.validation import check_int

MEASURED = "measured here"


COMPUTED = "computed from the architecture"


QUOTED = "quoted"


RDC_CLASSES, RDC_LEVELS = 10, 125   # one conditional call per class and noise level: 1,250 per image
DIFFPURE_STEPS = 100      # DiffPure on CIFAR-10: t* = 0.1 with step 1e-3 of the reverse SDE


@dataclass
class CostRow:
    """One method's cost per prediction (one image).  ``seconds_per_prediction`` is None when not timed."""
    method: str
    kind: str                  # 'IDC (this kit)', 'diffusion purification', 'diffusion classifier', 'adversarial training'
    parameters: int
    network_calls: float
    flops_per_prediction: int
    seconds_per_prediction: float | None
    flops_source: str
    time_source: str
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def count_call(build: Callable[[], nn.Module], make_inputs: Callable[[torch.device], tuple]) -> tuple[int, int]:
    """(parameters, FLOPs of one call on one image) of the network ``build()`` makes, built and run on
    the ``meta`` device (no memory, no arithmetic).  ``make_inputs(device)`` returns the call's arguments."""
    meta = torch.device("meta")
    with meta:
        model = build().eval()
    inputs = make_inputs(meta)
    return sum(p.numel() for p in model.parameters()), count_flops(lambda: model(*inputs))


def time_call(build: Callable[[], nn.Module], make_inputs: Callable[[torch.device], tuple], batch_size: int,
              repeats: int = 2) -> float:
    """Seconds of one call per image, measured on this machine's CPU: best of ``repeats`` calls on a
    batch of ``batch_size`` (after one warm-up call), untrained weights, no gradients."""
    check_int(batch_size, "batch_size", 1)
    check_int(repeats, "repeats", 1)
    cpu = torch.device("cpu")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build().eval()
    inputs = tuple(a.expand(batch_size, *a.shape[1:]).contiguous() for a in make_inputs(cpu))
    with torch.no_grad():
        return seconds_per_call(lambda: model(*inputs), repeats, warmup=1) / batch_size


def _image(device: torch.device, channels: int = 3, size: int = 32) -> torch.Tensor:
    return torch.zeros(1, channels, size, size, device=device)


def _score_inputs(device: torch.device) -> tuple:
    return _image(device), torch.zeros(1, device=device)


def _conditional_inputs(device: torch.device) -> tuple:
    return _image(device), torch.zeros(1, device=device), torch.zeros(1, dtype=torch.long, device=device)


def _classifier_inputs(device: torch.device) -> tuple:
    return (_image(device),)


def alternative_rows(time_batch: int = 2, timed: bool = True) -> list[CostRow]:
    """The defences the paper compares IDC with, at CIFAR-10's 32x32: DiffPure (score network, 100
    reverse steps, then a WideResNet-28-10), a diffusion classifier in the style of RDC (a conditional
    network per class and noise level), and adversarially trained PreActResNet-18 and WideResNet-28-10.
    ``timed`` False leaves the seconds out (None); ``time_batch`` images per timed call."""
    score_params, score_flops = count_call(lambda: ScoreNet(DIFFPURE_CIFAR10), _score_inputs)
    cond_params, cond_flops = count_call(lambda: ScoreNet(RDC_CIFAR10), _conditional_inputs)
    wrn_params, wrn_flops = count_call(WideResNet, _classifier_inputs)
    r18_params, r18_flops = count_call(preact_resnet18, _classifier_inputs)

    def seconds(build, inputs):
        return time_call(build, inputs, time_batch) if timed else None

    score_s = seconds(lambda: ScoreNet(DIFFPURE_CIFAR10), _score_inputs)
    cond_s = seconds(lambda: ScoreNet(RDC_CIFAR10), _conditional_inputs)
    wrn_s, r18_s = seconds(WideResNet, _classifier_inputs), seconds(preact_resnet18, _classifier_inputs)
    per_call = "one call measured here, times the calls" if timed else "not timed"
    rdc_calls = RDC_CLASSES * RDC_LEVELS
    return [
        CostRow("DiffPure (score network + WideResNet-28-10)", "diffusion purification", score_params + wrn_params,
                DIFFPURE_STEPS + 1, DIFFPURE_STEPS * score_flops + wrn_flops,
                None if score_s is None else DIFFPURE_STEPS * score_s + wrn_s, COMPUTED, per_call,
                f"{DIFFPURE_CIFAR10.description}; {DIFFPURE_STEPS} reverse steps (t* = 0.1, step 1e-3), then the classifier"),
        CostRow("diffusion classifier in the style of RDC", "diffusion classifier", cond_params, rdc_calls,
                rdc_calls * cond_flops, None if cond_s is None else rdc_calls * cond_s, COMPUTED, per_call,
                f"{RDC_CIFAR10.description}; one call per class and noise level ({RDC_CLASSES} x {RDC_LEVELS}); "
                "RDC's likelihood maximisation and its cheaper multi-head variant are not counted"),
        CostRow("PreActResNet-18 (adversarially trained)", "adversarial training", r18_params, 1, r18_flops, r18_s,
                COMPUTED, per_call.replace(", times the calls", "")),
        CostRow("WideResNet-28-10 (adversarially trained)", "adversarial training", wrn_params, 1, wrn_flops, wrn_s,
                COMPUTED, per_call.replace(", times the calls", "")),
    ]


def idc_row(name: str, config, time_batch: int = 16, timed: bool = True) -> CostRow:
    """IDC with ``config`` (an IDCConfig): parameters and FLOPs of the whole classifier (every sampler
    step; counted on the CPU with one image, since the sampler draws its noise from a CPU generator) and
    its seconds per prediction measured here on a batch of ``time_batch`` (untrained weights)."""
    from idc_lite.comparisons.baselines import prediction_cost
    from idc_lite.model.classifier import IDCClassifier

    model = IDCClassifier(config).eval()
    # the same count and timer as notebook 05's cost column (a one-image batch, once, when not timed)
    cost = prediction_cost(model, config.image_shape, batch_size=time_batch if timed else 1, repeats=2 if timed else 1)
    calls = model.bridge.num_network_calls
    seconds = cost["seconds_per_image"] if timed else None
    size = config.unet.image_size
    return CostRow(name, "IDC (this kit)", cost["parameters"], calls, cost["flops_per_prediction"], seconds,
                   COMPUTED, MEASURED if timed else "not timed",
                   f"{config.unet.in_channels}x{size}x{size} input, {calls} U-Net calls per prediction")


def idc_row_from_architecture(name: str, config) -> CostRow:
    """IDC's row counted on the ``meta`` device (nothing runs, so it is instant even at the paper's size):
    the U-Net's parameters and FLOPs of one call times the sampler's calls, untimed.  The same FLOPs as
    :func:`idc_row`, whose count runs the whole classifier once (the sampler's elementwise steps and the
    distances are not matrix products, so FlopCounterMode counts none of them in either)."""
    from idc_lite.model.bridge import BrownianBridge
    from idc_lite.model.unet import UNet

    def inputs(device):
        return (torch.zeros(1, *config.image_shape, device=device), torch.zeros(1, dtype=torch.long, device=device))

    params, flops = count_call(lambda: UNet(config.unet), inputs)
    calls = BrownianBridge.from_config(config).num_network_calls
    size = config.unet.image_size
    return CostRow(name, "IDC (this kit)", params, calls, calls * flops, None, COMPUTED, "not timed",
                   f"{config.unet.in_channels}x{size}x{size} input, {calls} U-Net calls per prediction")


@dataclass(frozen=True)
class LiteraturePoint:
    """A robust accuracy someone else measured, with where it is written and which cost row it sits on."""
    method: str
    robust_accuracy: float     # fraction, CIFAR-10 test set, L-inf 8/255
    clean_accuracy: float
    attack: str
    source: str
    cost_row: str              # the CostRow.method whose cost this model has


LITERATURE = (
    LiteraturePoint("DiffPure (WideResNet-28-10)", 0.7064, 0.8902, "AutoAttack (L-inf 8/255), gradients through the SDE",
                    "Nie et al., Diffusion Models for Adversarial Purification, ICML 2022, Table 1 (arXiv 2205.07460); "
                    "Lee & Kim (ICCV 2023) find it much lower under a stronger PGD-EOT evaluation",
                    "DiffPure (score network + WideResNet-28-10)"),
    LiteraturePoint("RDC", 0.7567, 0.8985, "adaptive attacks (L-inf 8/255)",
                    "Chen et al., Robust Classification via a Single Diffusion Model, ICML 2024 (arXiv 2305.15241v2, abstract)",
                    "diffusion classifier in the style of RDC"),
    LiteraturePoint("PreActResNet-18, fast AT (Wong et al. 2020)", 0.4321, 0.8334, "AutoAttack (L-inf 8/255)",
                    "RobustBench model_info cifar10/Linf/Wong2020Fast.json (listed as ResNet-18)",
                    "PreActResNet-18 (adversarially trained)"),
    LiteraturePoint("WideResNet-28-10, AT + 1M generated images (Rebuffi et al. 2021)", 0.6075, 0.8733,
                    "AutoAttack (L-inf 8/255)", "RobustBench model_info cifar10/Linf/Rebuffi2021Fixing_28_10_cutmix_ddpm.json",
                    "WideResNet-28-10 (adversarially trained)"),
)


def robustness_points(table: list[CostRow], metrics: RunMetrics) -> list[dict]:
    """The points of notebook 06's plot: every quoted figure at the cost of its architecture's row in
    ``table``, then (when the run's ``metrics`` hold notebooks 02 and 04) this run's IDC and notebook 05's
    CNNs as measured here, each with its data, budget, protocol and the file it comes from."""
    by_method = {r.method: r for r in table}
    points = [{"label": p.method, "flops": by_method[p.cost_row].flops_per_prediction, "robust_accuracy": p.robust_accuracy,
               "clean_accuracy": p.clean_accuracy, "source": QUOTED, "data": "CIFAR-10", "eps_255": 8.0,
               "protocol": p.attack, "reference": p.source} for p in LITERATURE]
    trained, attacked, baselines = metrics.training, metrics.attack, metrics.baselines
    if not (trained and attacked):
        return points
    measured = {"source": MEASURED, "data": trained.data or "this run's data", "eps_255": round(255 * attacked.eps, 1)}
    adaptive = attacked.adaptive_protocol
    points.append({"label": f"IDC, this run ({trained.preset})", "flops": trained.flops_per_prediction,
                   "robust_accuracy": adaptive["worst_case_accuracy"], "clean_accuracy": adaptive["clean_accuracy"],
                   "protocol": "adaptive protocol of notebook 04 (worst case over its attacks)",
                   "reference": "metrics/04_attack.json", **measured})
    for name, model in (baselines.models if baselines else {}).items():
        if "CNN" in name:
            adaptive = model["protocols"]["adaptive"]
            points.append({"label": f"{name}, this run", "flops": model["cost"]["flops_per_prediction"],
                           "robust_accuracy": adaptive["worst_case_accuracy"], "clean_accuracy": adaptive["clean_accuracy"],
                           "protocol": "adaptive protocol of notebook 05", "reference": "metrics/05_baselines.json", **measured})
    return points


