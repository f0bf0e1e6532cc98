"""The presets: the paper's two carry the authors' published settings exactly; the CPU ones are smaller
and name what a whole run of the notebooks takes with them."""
from dataclasses import asdict

import pytest

from idc_lite.foundation.errors import ParameterError
from idc_lite.model.unet import UNet, count_parameters, flops_per_call
from idc_lite.runs.reproduce import check_run_parameters, notebook_paths
from idc_lite.training.presets import PRESETS, get_preset

# Transcribed from the authors' configs/Template-IDC-cifar10.yaml and Template-IDC-cifar100.yaml
# (github.com/hfmei/IDC), with their runner's code where the YAML leaves a choice to it:
# auto_lr_scheduler True -> ReduceLROnPlateau stepped on the batch loss (cifar10); False -> StepLR
# (step 500 epochs, gamma 0.5) stepped per epoch for a dataset other than cifar10 (cifar100);
# datasets/custom.py: no augmentation for cifar10 (flip p=0), flip + RandomRotation(15) for cifar100;
# the UNetModel's default dropout 0.3 (the YAML does not set it); the IDC loss weight 0.2 (hard-coded).
AUTHORS = {
    "cifar10": {
        "epochs": 400, "accumulate_grad_batches": 2, "batch_size": 64, "num_classes": 10,
        "use_ema": True, "ema_decay": 0.995, "update_ema_interval": 8, "start_ema_step": 30000,
        "weight_decay": 0.0, "lr": 1e-4, "beta1": 0.9,
        "lr_scheduler": "plateau", "plateau_factor": 0.5, "plateau_patience": 3000, "plateau_threshold": 1e-4,
        "plateau_cooldown": 3000, "min_lr": 5e-7, "augment": "none",
        "mt_type": "linear", "objective": "grad", "loss_type": "l1", "skip_sample": True, "sample_step": 4,
        "num_timesteps": 4, "eta": 1.0, "max_var": 1.0, "cls_loss_weight": 0.2,
        "unet": {"image_size": 32, "in_channels": 3, "model_channels": 64, "out_channels": 3, "num_res_blocks": 1,
                 "attention_resolutions": (32, 16, 8), "channel_mult": (1, 4), "conv_resample": True, "num_heads": 8,
                 "num_head_channels": 32, "use_scale_shift_norm": True, "resblock_updown": True, "dropout": 0.3},
    },
    "cifar100": {
        "epochs": 600, "accumulate_grad_batches": 2, "batch_size": 64, "num_classes": 100,
        "use_ema": True, "ema_decay": 0.995, "update_ema_interval": 8, "start_ema_step": 30000,
        "weight_decay": 0.0, "lr": 1e-4, "beta1": 0.9,
        "lr_scheduler": "step", "step_size": 500, "step_gamma": 0.5, "augment": "flip_rotate",
        "mt_type": "linear", "objective": "grad", "loss_type": "l1", "skip_sample": True, "sample_step": 4,
        "num_timesteps": 4, "eta": 1.0, "max_var": 1.0, "cls_loss_weight": 0.2,
        "unet": {"image_size": 32, "in_channels": 3, "model_channels": 64, "out_channels": 3, "num_res_blocks": 1,
                 "attention_resolutions": (32, 16, 8), "channel_mult": (1, 4, 8), "conv_resample": True, "num_heads": 8,
                 "num_head_channels": 64, "use_scale_shift_norm": True, "resblock_updown": True, "dropout": 0.3},
    },
}


@pytest.mark.parametrize("name", sorted(AUTHORS))
def test_the_paper_presets_carry_the_authors_settings(name):
    preset = get_preset(name)
    ours = {**asdict(preset.train), **{k: v for k, v in asdict(preset.model).items() if k != "unet"}}
    expected = dict(AUTHORS[name])
    unet = expected.pop("unet")
    assert {k: ours[k] for k in expected} == expected
    assert {k: getattr(preset.model.unet, k) for k in unet} == unet
    assert preset.train.precision == "fp32" and preset.train.timesteps == "uniform" and preset.train.official_init
    assert preset.dataset == name and preset.model.skip_noop_steps is False   # the quirks as the authors run them


def test_the_cpu_cifar_preset_is_a_smaller_u_net_on_the_same_images():
    cpu, paper = get_preset("cifar10_cpu"), get_preset("cifar10")
    assert cpu.dataset == "cifar10" and cpu.model.image_shape == paper.model.image_shape == (3, 32, 32)
    assert count_parameters(UNet(cpu.model.unet)) < count_parameters(UNet(paper.model.unet)) / 4
    assert flops_per_call(UNet(cpu.model.unet), (3, 32, 32)) < flops_per_call(UNet(paper.model.unet), (3, 32, 32)) / 4
    # the method is the paper's: same bridge, sampler, loss and its weight
    for key in ("num_timesteps", "sample_step", "mt_type", "objective", "loss_type", "cls_loss_weight", "eta"):
        assert getattr(cpu.model, key) == getattr(paper.model, key)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_names_notebook_parameters_that_exist_with_the_right_types(name):
    preset = get_preset(name)
    parameters = preset.run_parameters()
    assert parameters["preset"] == name
    check_run_parameters(notebook_paths(), parameters)          # raises on an unknown or mistyped parameter
    if preset.model.unet.image_size != 16 or preset.model.unet.in_channels != 1:   # 01 builds label images of that size
        assert (parameters["image_size"], parameters["channels"]) == (preset.model.unet.image_size,
                                                                      preset.model.unet.in_channels)


def test_the_run_parameter_check_catches_a_wrong_preset_entry():
    with pytest.raises(ParameterError, match="unknown parameter"):
        check_run_parameters(notebook_paths(), {"preset": "digits", "epoch": 3})
    with pytest.raises(ParameterError):
        check_run_parameters(notebook_paths(), {"preset": "digits", "eps_255": "8"})


def test_unknown_preset_names_are_refused():
    with pytest.raises(ValueError, match="unknown preset 'cifar'; choose one of .*cifar10_cpu"):
        get_preset("cifar")
