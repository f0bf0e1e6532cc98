import torch

from idc_lite.model.bridge import BrownianBridge
from idc_lite.model.losses import idc_loss


def _setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    label_images = torch.rand(3, 1, 4, 4, generator=g) * 2 - 1
    labels = torch.tensor([0, 1, 2, 0])
    y = torch.rand(4, 1, 4, 4, generator=g) * 2 - 1
    t = torch.tensor([0, 1, 2, 3])
    noise = torch.randn(4, 1, 4, 4, generator=g)
    return label_images, labels, y, t, noise


def test_zero_weight_is_plain_bbdm_l1():
    bridge = BrownianBridge()
    label_images, labels, y, t, noise = _setup()
    terms = idc_loss(bridge, lambda x, tt: 0.3 * x, label_images[labels], y, t, noise, labels, label_images, 0.0)
    _, target = bridge.q_sample(label_images[labels], y, t, noise)
    x_t, _ = bridge.q_sample(label_images[labels], y, t, noise)
    assert torch.allclose(terms.loss, (target - 0.3 * x_t).abs().mean())
    assert float(terms.simloss) == 0.0


def test_perfect_denoiser_has_no_inter_class_penalty():
    bridge = BrownianBridge()
    label_images, labels, y, t, noise = _setup()
    _, target = bridge.q_sample(label_images[labels], y, t, noise)
    terms = idc_loss(bridge, lambda x, tt: target, label_images[labels], y, t, noise, labels, label_images)
    assert float(terms.recloss) == 0.0 and float(terms.simloss) == 0.0


def test_official_sign_rewards_distance_from_the_nearest_wrong_class():
    bridge = BrownianBridge()
    label_images, labels, y, t, noise = _setup()
    x0 = label_images[labels]
    wrong = (labels + 1) % 3
    per_class = bridge.class_targets(x0, label_images, y, t, noise)
    # an output equal to a wrong class's target: own class is not nearest, the term is active
    output = per_class[torch.arange(4), wrong]
    terms = idc_loss(bridge, lambda x, tt: output, x0, y, t, noise, labels, label_images, 0.2)
    assert float(terms.simloss) <= 0.0
    dist = (per_class - output.unsqueeze(1)).abs().mean(dim=(2, 3, 4))
    own_nearest = dist[torch.arange(4), labels] == dist.min(1).values
    masked = dist.clone()
    masked[torch.arange(4), labels] = float("inf")
    expected = -0.2 * torch.where(own_nearest, torch.zeros(4), masked.min(1).values).mean()
    assert torch.allclose(terms.simloss, expected)
    assert torch.allclose(terms.loss, terms.recloss + terms.simloss)
