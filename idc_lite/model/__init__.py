"""The method itself: label images, the Brownian bridge, the pruned U-Net, the classifier and its loss.

- ``label_images``: one fixed image per class (seeded normals, QR, min-max), as the authors build them;
- ``bridge``: the BBDM schedule and sampler (T = 4, starting at the input); ``unet``: the pruned U-Net;
- ``config`` (``IDCConfig``) and ``classifier`` (``IDCClassifier``: images in [0, 1] -> logits (B, K));
- ``losses``: BBDM's L1 objective plus the inter-class term; ``accuracy``: clean accuracy of a random classifier.

It imports only the foundation.
"""
from idc_lite.model.accuracy import accuracy_over_draws, describe_draws, evaluate_accuracy, predictions_over_draws
from idc_lite.model.bridge import BrownianBridge, make_schedule
from idc_lite.model.classifier import IDCClassifier, to_image_scale, to_model_scale
from idc_lite.model.config import IDCConfig
from idc_lite.model.label_images import label_image_diagnostics, make_label_images
from idc_lite.model.losses import idc_loss
from idc_lite.model.unet import UNet, UNetConfig, count_parameters, flops_per_call

__all__ = ["BrownianBridge", "IDCClassifier", "IDCConfig", "UNet", "UNetConfig", "accuracy_over_draws",
           "count_parameters", "describe_draws", "evaluate_accuracy", "flops_per_call", "idc_loss",
           "label_image_diagnostics", "make_label_images", "make_schedule", "predictions_over_draws",
           "to_image_scale", "to_model_scale"]
