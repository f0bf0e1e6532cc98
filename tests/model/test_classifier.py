import pytest
import torch

from conftest import tiny_config
from idc_lite.foundation.errors import InputError
from idc_lite.model.classifier import IDCClassifier


@pytest.fixture
def model():
    torch.manual_seed(0)
    from idc_lite.model.unet import official_init_
    m = IDCClassifier(tiny_config())
    official_init_(m.unet)   # non-zero output layer, so the logits depend on the input
    return m.eval()


def test_logits_shape_and_definition(model, tiny_images):
    x, _ = tiny_images
    g = torch.Generator().manual_seed(0)
    logits = model(x, generator=g)
    assert logits.shape == (6, 4)
    d = model.distances(x, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(logits, -d / model.config.tau)
    assert bool((d >= 0).all()) and bool((d <= 1).all())


def test_randomness_is_explicit(model, tiny_images):
    x, _ = tiny_images
    a = model(x, generator=torch.Generator().manual_seed(1))
    b = model(x, generator=torch.Generator().manual_seed(1))
    c = model(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(0)
    d1 = model(x)                      # the module's own generator: successive calls differ
    torch.manual_seed(0)
    d2 = model(x)
    assert not torch.equal(d1, d2)     # ... and reseeding the global RNG does not change that


def test_fixed_noise_mode_overrides_generators(model, tiny_images):
    x, _ = tiny_images
    model.fix_noise(3)
    a = model(x, generator=torch.Generator().manual_seed(1))
    b = model(x, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)
    model.fix_noise(None)
    assert not torch.equal(model(x), model(x))


def test_gradients_reach_the_input(model, tiny_images):
    x, labels = tiny_images
    x = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x, generator=torch.Generator().manual_seed(0)), labels)
    (grad,) = torch.autograd.grad(loss, x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_gradients_reach_pixels_exactly_at_0_and_1(model, tiny_images):
    """Black and white pixels are most of a digit: a zero gradient there would mask them from every attack."""
    x, labels = tiny_images
    x = x.clone()
    x[:, :, :4] = 0.0
    x[:, :, 4:] = 1.0
    x.requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(x, generator=torch.Generator().manual_seed(0)), labels)
    (grad,) = torch.autograd.grad(loss, x)
    assert (grad[:, :, :4] != 0).float().mean() > 0.9 and (grad[:, :, 4:] != 0).float().mean() > 0.9
    # the values are the clamped ones of the authors' to_normal
    from idc_lite.model.classifier import to_model_scale
    assert torch.equal(to_model_scale(x.detach()), ((x.detach() - 0.5) * 2).clamp(-1, 1))
    assert torch.equal(to_model_scale(torch.tensor([-0.1, 1.2])), torch.tensor([-1.0, 1.0]))


@pytest.mark.parametrize("bad, message", [
    (lambda x: x.numpy(), "torch.Tensor"),
    (lambda x: (x * 255).to(torch.uint8), "floating point"),
    (lambda x: x[0], "add a batch dimension"),
    (lambda x: x[:, :, :, :, None].squeeze(-1).repeat(1, 3, 1, 1), "1 channel"),
    (lambda x: x.permute(0, 2, 3, 1).repeat(1, 1, 1, 1)[:, :, :, :1].reshape(6, 8, 8, 1), "channels-last"),
    (lambda x: x[:, :, :4, :4], "8x8"),
    (lambda x: x * 255, "divide by 255"),
    (lambda x: x * 2 - 1, "use \\(x \\+ 1\\) / 2"),
    (lambda x: torch.where(torch.arange(64).reshape(1, 1, 8, 8) == 5, torch.nan, x), "NaN"),
    (lambda x: x[:0], "empty"),
    (lambda x: x.flatten(1), "4 dimensions"),
])
def test_bad_inputs_get_clear_errors(model, tiny_images, bad, message):
    x, _ = tiny_images
    with pytest.raises(InputError, match=message):
        model(bad(x), generator=torch.Generator())


def test_predict_batches_without_grad(model, tiny_images):
    x, _ = tiny_images
    p1 = model.predict(x, generator=torch.Generator().manual_seed(0), batch_size=6)
    assert p1.shape == (6,) and p1.dtype == torch.long and not p1.requires_grad


def test_the_gradient_twin_gives_the_same_predictions_for_the_same_noise(model, tiny_images):
    """The 3-call sampler (no-op step dropped) fed the 4-call sampler's first and third draws
    predicts exactly what the faithful model predicts, with logits equal to float tolerance, on
    the same weights; it makes 3 U-Net calls instead of 4 and leaves the model itself unchanged."""
    x, _ = tiny_images
    x = x.repeat(8, 1, 1, 1)                       # 32 images, random weights: varied predictions
    x = (x + 0.2 * torch.rand(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    twin = model.gradient_twin()
    assert (model.bridge.num_network_calls, twin.bridge.num_network_calls) == (4, 3)
    assert model.bridge.steps == [3, 1, 1, 0] and not model.config.skip_noop_steps
    assert twin.unet is model.unet and twin.label_images is model.label_images
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        noise = [torch.randn(x.shape, generator=g) for _ in range(model.bridge.num_noise_draws)]
        faithful = model(x, noise=noise)
        fast = twin(x, noise=[noise[0], noise[2]])
        assert torch.equal(faithful.argmax(1), fast.argmax(1))
        # the no-op step moves each pixel by sqrt(3e-8) * a draw, about 2e-4: distances move by ~2e-5,
        # logits (distance / 0.1) by ~2e-4; feeding the wrong draw moves them by orders of magnitude more
        assert (faithful - fast).abs().max() < 1e-3
        wrong = twin(x, noise=[noise[0], noise[1]])
        assert (faithful - wrong).abs().max() > 1e-2
        with pytest.raises(ValueError):            # the twin really has one draw fewer
            twin(x, noise=noise)
    calls = []
    handle = model.unet.register_forward_hook(lambda *args: calls.append(1))
    twin(x, generator=torch.Generator().manual_seed(0))
    handle.remove()
    assert len(calls) == 3


def test_the_bf16_gradient_twin_runs_the_unet_in_bfloat16_and_keeps_the_gradient(model, tiny_images, monkeypatch):
    """gradient_twin('bf16'): every U-Net call under bfloat16 autocast, float32 logits and input
    gradients pointing where the float32 twin's do; the model itself and the float32 twin are
    untouched; 'auto' picks bf16 only where the device has it natively."""
    import idc_lite.model.classifier as classifier_module

    x, labels = tiny_images
    x = x.repeat(4, 1, 1, 1)
    labels = labels.repeat(4)
    fp32, bf16 = model.gradient_twin(), model.gradient_twin("bf16")
    assert model.unet_autocast is None and fp32.unet_autocast is None and bf16.unet_autocast is torch.bfloat16
    seen = []
    conv = next(m for m in model.unet.modules() if isinstance(m, torch.nn.Conv2d))
    handle = conv.register_forward_hook(lambda module, inputs, output: seen.append(output.dtype))
    grads = {}
    for name, twin in (("fp32", fp32), ("bf16", bf16), ("model", model)):
        seen.clear()
        xg = x.clone().requires_grad_(True)
        logits = twin(xg, generator=torch.Generator().manual_seed(3))
        assert logits.dtype == torch.float32
        logits.gather(1, labels[:, None]).sum().backward()
        grads[name] = xg.grad.flatten(1)
        assert set(seen) == {torch.bfloat16 if name == "bf16" else torch.float32}, name
    handle.remove()
    cosine = torch.nn.functional.cosine_similarity(grads["fp32"], grads["bf16"]).mean()
    assert 0.9 < cosine < 1.0 - 1e-7            # close, and not the same arithmetic
    for native in (True, False):
        monkeypatch.setattr(classifier_module, "native_bf16", lambda device, native=native: native)
        assert (model.gradient_twin("auto").unet_autocast is torch.bfloat16) == native
    with pytest.raises(InputError, match="precision"):
        model.gradient_twin("fp16")
