import torch

from idc_lite.comparisons.baselines import SmallCNN, train_cnn
from idc_lite.data.datasets import load_digits
from idc_lite.evaluation.attacks import PGDSettings, pgd


def test_cnn_learns_digits_and_pgd_breaks_it():
    data = load_digits()
    cnn = train_cnn(data, epochs=3, seed=0)
    x, y = data.x_test[:64], data.y_test[:64]
    with torch.no_grad():
        clean = (cnn(x).argmax(1) == y).float().mean().item()
    x_adv = pgd(cnn, x, y, PGDSettings(eps=32 / 255, alpha=8 / 255, steps=10), torch.Generator().manual_seed(0))
    with torch.no_grad():
        robust = (cnn(x_adv).argmax(1) == y).float().mean().item()
    assert clean > 0.85 and robust < 0.2


def test_cnn_is_seeded_and_adversarial_training_runs():
    data = load_digits()
    a, b = train_cnn(data, epochs=1, seed=3), train_cnn(data, epochs=1, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    small = type(data)(data.x_train[:128], data.y_train[:128], data.x_test, data.y_test, data.class_names, data.info)
    adv = train_cnn(small, epochs=1, adversarial=PGDSettings(eps=8 / 255, alpha=2 / 255, steps=2))
    assert isinstance(adv, SmallCNN) and not adv.training
