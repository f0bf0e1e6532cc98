import json

import pytest
import torch

from conftest import Linear, tiny_config
from idc_lite.classifier import IDCClassifier
from idc_lite.evaluation import AttackSpec, adaptive_suite, evaluate, paper_suite


def test_evaluate_reports_every_attack_and_the_worst_case():
    model = Linear()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(x).argmax(1)
    attacks = [AttackSpec("fgsm", "fgsm", {"eps": 0.05}),
               AttackSpec("pgd", "pgd", {"eps": 0.05, "alpha": 0.01, "steps": 10}),
               AttackSpec("cw", "cw_l2", {"c": 10.0, "steps": 50, "lr": 0.05})]
    result = evaluate(model, x, labels, attacks, seed=0, batch_size=8, l2_budget=0.5)
    json.dumps(result)
    assert result["clean_accuracy"] == 1.0 and [a["name"] for a in result["attacks"]] == ["fgsm", "pgd", "cw"]
    per_attack = [a["robust_accuracy"] for a in result["attacks"]]
    assert result["worst_case_accuracy"] <= min(per_attack)
    assert result["attacks"][1]["max_linf"] <= 0.05 + 1e-6 and result["attacks"][2]["max_l2"] <= 0.5 + 1e-6
    assert result["attacks"][1]["params"] == {"eps": 0.05, "alpha": 0.01, "steps": 10}


def test_suites_build_and_run_on_a_tiny_idc_model():
    idc = IDCClassifier(tiny_config())
    idc.unet.reset_parameters(0)
    idc.eval()
    x = torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    small = adaptive_suite(8 / 255, steps=2, eot_samples=2, square_queries=3) + paper_suite()
    assert {s.target for s in small} == {"model", "fixed_noise", "bpda", "paper_wrapper"}
    for spec in small:
        if spec.kind in ("pgd", "mi_fgsm"):
            spec.params["steps"] = min(spec.params["steps"], 2)
    result = evaluate(idc, x, labels, small, rule="majority", draws=3)
    assert len(result["attacks"]) == len(small) and result["draws"] == 3
    assert all(a["max_linf"] <= 8 / 255 + 1e-6 for a in result["attacks"])


def test_bad_specs_are_rejected():
    with pytest.raises(ValueError, match="attack kind"):
        AttackSpec("x", "deepfool")
    with pytest.raises(ValueError, match="attack target"):
        AttackSpec("x", "pgd", target="surrogate")
