"""idc_lite: a teaching and reproduction kit for the Image-to-Image Diffusion Classifier (IDC).

The stable way in for outside evaluators::

    import idc_lite
    model = idc_lite.load_classifier("runs/<run>/model.pt")    # nn.Module: (B, C, H, W) in [0, 1] -> logits (B, K)
    x, labels = idc_lite.load_examples("runs/<run>/eval_examples.pt")
    logits = model(x, generator=torch.Generator().manual_seed(0))   # noise from a stream spawned from yours
    model = idc_lite.load_reference("idc")                     # a model shipped in the package, by name

Names are imported on first use, so ``import idc_lite`` stays cheap.
"""
__all__ = ["load_classifier", "load_examples", "load_reference"]


def __getattr__(name: str):
    if name == "load_classifier":
        from idc_lite.training.checkpoint import load_classifier

        return load_classifier
    if name == "load_examples":
        from idc_lite.evaluation.examples import load_examples

        return load_examples
    if name == "load_reference":
        from idc_lite.comparisons.reference_models import load_reference

        return load_reference
    raise AttributeError(f"module 'idc_lite' has no attribute {name!r}")
