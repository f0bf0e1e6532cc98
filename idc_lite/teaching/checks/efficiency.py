"""Checks for notebook 06's exercises (cost ratios, a wider U-Net's FLOPs)."""
from __future__ import annotations

import math

import torch

from idc_lite.teaching.checks.common import as_number, fail, passed


# ---- 06 efficiency --------------------------------------------------------------------------------
def _row(ex: str, table, method: str) -> dict:
    rows = [r if isinstance(r, dict) else r.to_dict() for r in table]
    for row in rows:
        if row["method"] == method:
            return row
    fail(ex, f"the cost table has no row {method!r}: run the cells above again")


def check_cost_ratios(idc_per_diffpure, idc_per_rdc, table, idc_method: str, diffpure_method: str,
                      rdc_method: str) -> str:
    """Exercise 06.1: how many IDC predictions (the paper preset, ``idc_method``) cost as many FLOPs as one
    DiffPure prediction, and as one prediction of the RDC-style classifier (rows of the cost table)."""
    ex = "06.1 IDC predictions per DiffPure prediction"
    idc, diffpure, rdc = (_row(ex, table, m) for m in (idc_method, diffpure_method, rdc_method))
    answers = {"idc_per_diffpure": (as_number(ex, "idc_per_diffpure", idc_per_diffpure), diffpure),
               "idc_per_rdc": (as_number(ex, "idc_per_rdc", idc_per_rdc), rdc)}
    idc_rows = [r if isinstance(r, dict) else r.to_dict() for r in table]
    for name, (value, other) in answers.items():
        expected = other["flops_per_prediction"] / idc["flops_per_prediction"]
        if math.isclose(value, expected, rel_tol=1e-6):
            continue
        if math.isclose(value, 1 / expected, rel_tol=1e-6):
            fail(ex, f"{name} is upside down: the other method's FLOPs divided by IDC's (a number above 1)")
        per_call = (other["flops_per_prediction"] / other["network_calls"]) / (idc["flops_per_prediction"] / idc["network_calls"])
        if math.isclose(value, per_call, rel_tol=1e-3):
            fail(ex, f"{name} compares one network call of each; a prediction needs network_calls of them")
        if math.isclose(value, other["parameters"] / idc["parameters"], rel_tol=1e-6):
            fail(ex, f"{name} compares parameters; the cost of a prediction is its FLOPs (flops_per_prediction)")
        if (other["seconds_per_prediction"] and idc["seconds_per_prediction"]
                and math.isclose(value, other["seconds_per_prediction"] / idc["seconds_per_prediction"], rel_tol=1e-6)):
            fail(ex, f"{name} compares measured seconds, which depend on this machine; the exercise asks for FLOPs")
        for row in idc_rows:
            if row["kind"] == idc["kind"] and row["method"] != idc_method and math.isclose(
                    value, other["flops_per_prediction"] / row["flops_per_prediction"], rel_tol=1e-6):
                fail(ex, f"{name} divides by the row {row['method']!r}; the paper's IDC is {idc_method!r}")
        fail(ex, f"{name} is wrong: the other method's flops_per_prediction divided by that of {idc_method!r}")
    return passed(ex, f"one DiffPure prediction costs {answers['idc_per_diffpure'][0]:,.0f} IDC predictions, "
                       f"one RDC-style prediction {answers['idc_per_rdc'][0]:,.0f}")


def check_wide_unet_flops(wide_flops_per_prediction, width_factor, config) -> str:
    """Exercise 06.2: FLOPs per prediction of IDC ``config`` (an IDCConfig) with its U-Net's
    ``model_channels`` doubled, every sampler call included, and its ratio to ``config``'s own."""
    from dataclasses import replace

    from idc_lite.model.classifier import IDCClassifier
    from idc_lite.model.unet import UNet, flops_per_call

    ex = "06.2 a wider U-Net"
    meta = torch.device("meta")
    with meta:
        base_unet = UNet(config.unet)
        wide_unet = UNet(replace(config.unet, model_channels=2 * config.unet.model_channels))
    calls = IDCClassifier(config).bridge.num_network_calls
    base, wide = calls * flops_per_call(base_unet, config.image_shape), calls * flops_per_call(wide_unet, config.image_shape)
    value = as_number(ex, "wide_flops_per_prediction", wide_flops_per_prediction)
    if not math.isclose(value, wide, rel_tol=1e-9):
        if math.isclose(value, wide / calls, rel_tol=1e-9):
            fail(ex, f"that is one U-Net call; a prediction makes {calls} of them")
        if math.isclose(value, wide / 2, rel_tol=1e-9) or math.isclose(value, wide / (2 * calls), rel_tol=1e-9):
            fail(ex, "that counts multiply-adds; flops_per_call counts 2 FLOPs per multiply-add, use its number as it is")
        if math.isclose(value, base, rel_tol=1e-9) or math.isclose(value, base / calls, rel_tol=1e-9):
            fail(ex, "that is the U-Net of the preset itself; double model_channels first")
        fail(ex, f"wide_flops_per_prediction is wrong: flops_per_call of the U-Net with model_channels="
                  f"{2 * config.unet.model_channels}, times the network calls per prediction")
    factor = as_number(ex, "width_factor", width_factor)
    if not math.isclose(factor, wide / base, rel_tol=1e-9):
        if math.isclose(factor, base / wide, rel_tol=1e-9):
            fail(ex, "width_factor is upside down: the wide U-Net's FLOPs divided by the preset's")
        params = sum(p.numel() for p in wide_unet.parameters()) / sum(p.numel() for p in base_unet.parameters())
        if math.isclose(factor, params, rel_tol=1e-6):
            fail(ex, "width_factor compares parameters; the exercise asks for FLOPs per prediction")
        fail(ex, "width_factor is wrong: the wide U-Net's FLOPs per prediction divided by the preset's")
    return passed(ex, f"{value / 1e9:.1f} GFLOP per prediction, {factor:.2f} times the preset's")


