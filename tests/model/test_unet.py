import pytest
import torch

from idc_lite.model.unet import UNet, UNetConfig, count_parameters, flops_per_call, official_init_
from idc_lite.training.presets import get_preset


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(channel_mult=(1, 2, 2), attention_resolutions=(1, 4), num_head_channels=16),
    dict(resblock_updown=False, use_scale_shift_norm=False, num_res_blocks=2, in_channels=3, out_channels=3),
])
def test_output_shape_matches_input(kwargs):
    cfg = UNetConfig(image_size=8, dropout=0.0, **kwargs)
    net = UNet(cfg)
    x = torch.randn(2, cfg.in_channels, 8, 8)
    out = net(x, torch.tensor([0, 3]))
    assert out.shape == (2, cfg.out_channels, 8, 8)


def test_attention_resolutions_are_downsample_rates():
    with_attn = UNet(UNetConfig(image_size=8, attention_resolutions=(2,)))
    no_level_attn = UNet(UNetConfig(image_size=8, attention_resolutions=(16, 8)))  # like the CIFAR configs: no match
    def n_attn(m):
        return sum(type(x).__name__ == "AttentionBlock" for x in m.modules())
    assert n_attn(no_level_attn) == 1          # middle block only (quirk Q3)
    assert n_attn(with_attn) == 1 + 1 + 2      # middle + one down + two up blocks at rate 2


def test_paper_cifar10_size_and_cost():
    cfg = get_preset("cifar10").model.unet
    net = UNet(cfg)
    assert count_parameters(net) == 9_393_475                                  # the paper's 9.39 M
    assert flops_per_call(net, (3, 32, 32)) == pytest.approx(6.84e9, rel=2e-3)   # the paper's 6.84 GFLOP per call


def test_official_init_overwrites_zero_convs():
    net = UNet(UNetConfig(image_size=8))
    assert net.out[-1].weight.abs().sum().item() == 0
    official_init_(net)
    assert net.out[-1].weight.abs().sum().item() > 0
    assert net.middle_block[1].proj_out.weight.abs().sum().item() == 0   # Conv1d untouched, as the authors' init


def test_config_errors_are_explicit():
    with pytest.raises(ValueError, match="multiple of 32"):
        UNetConfig(model_channels=48)
    with pytest.raises(ValueError, match="divisible"):
        UNetConfig(image_size=10, channel_mult=(1, 2, 2))
    with pytest.raises(ValueError, match="not supported"):
        UNetConfig.from_dict({"use_spatial_transformer": True})
    with pytest.raises(ValueError, match="unknown U-Net option"):
        UNetConfig.from_dict({"modle_channels": 32})
