"""The table of bad inputs: every public entry point, fed what a careless or hostile user gives it.

Each :class:`Case` names its entry point, the bad input, the call, and what must happen:

* an error type of the kit (``"InputError"``, ``"CheckpointError"``, ...) whose message matches
  ``match`` (what was expected and what was given);
* ``"exit N"`` for a command line: status N, ``match`` in what it printed to stderr;
* ``"ok"``: the documented behaviour is to accept it (the dtype policy, a resumed run).

``check`` (optional) runs afterwards and proves that nothing was lost or the result is right.

``tests/test_bad_inputs.py`` runs the table under pytest.  As a script it prints the counts per
entry point, also against an older checkout of the package (``--legacy``: an error type the old
code does not have counts as its built-in base class, raised by the kit's own code rather than
from inside torch, and messages are not compared)::

    PYTHONPATH=OLD_CHECKOUT python tests/bad_input_table.py --legacy
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import sys
import tempfile
import traceback
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import torch

# error type name -> (module, built-in base a caller would catch)
ERROR_TYPES = {
    "InputError": ("idc_lite.foundation.errors", ValueError),
    "ParameterError": ("idc_lite.foundation.errors", ValueError),
    "DataError": ("idc_lite.foundation.errors", ValueError),
    "TrainingDivergedError": ("idc_lite.foundation.errors", RuntimeError),
    "CheckpointError": ("idc_lite.foundation.errors", RuntimeError),
    "StaleRecordError": ("idc_lite.foundation.errors", RuntimeError),
    "OverwriteRefusedError": ("idc_lite.foundation.errors", RuntimeError),
    "DataNotFoundError": ("idc_lite.foundation.errors", FileNotFoundError),
    "RunDirError": ("idc_lite.foundation.errors", NotADirectoryError),
    "RunFolderError": ("idc_lite.foundation.errors", ValueError),
}


@dataclass
class Case:
    entry: str
    what: str
    call: Callable[["Env"], object]
    expect: str
    match: str = ""
    check: Callable[["Env", object], None] | None = None

    @property
    def id(self) -> str:
        return f"{self.entry}: {self.what}"


# ---- the shared world of the cases: a tiny model, data, checkpoints ------------------------------
class Env:
    """Lazily built inputs shared by the cases (tiny: 8x8 images, 4 classes)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._count = 0

    def path(self, name: str) -> Path:
        self._count += 1
        folder = self.folder / f"case{self._count:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    @cached_property
    def config(self):
        from idc_lite.model.config import IDCConfig
        from idc_lite.model.unet import UNetConfig

        unet = UNetConfig(image_size=8, in_channels=1, model_channels=32, out_channels=1, num_res_blocks=1,
                          attention_resolutions=(2,), channel_mult=(1, 2), dropout=0.0, num_heads=2)
        return IDCConfig(num_classes=4, unet=unet)

    @cached_property
    def model(self):
        from idc_lite.model.classifier import IDCClassifier

        return IDCClassifier(self.config).eval()

    @cached_property
    def cnn(self):
        from idc_lite.comparisons.baselines import SmallCNN

        torch.manual_seed(0)
        return SmallCNN(1, 8, 4).eval()

    @cached_property
    def x(self) -> torch.Tensor:
        return torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))

    @cached_property
    def labels(self) -> torch.Tensor:
        return torch.tensor([0, 1, 2, 3])

    def data(self, **changes):
        from idc_lite.data.splits import DataSplit

        g = torch.Generator().manual_seed(0)
        fields = {"x_train": torch.rand(16, 1, 8, 8, generator=g), "y_train": torch.arange(16) % 4,
                  "x_test": torch.rand(4, 1, 8, 8, generator=g), "y_test": torch.arange(4),
                  "class_names": ["a", "b", "c", "d"], "info": {"dataset": "tiny"}}
        fields.update(changes)
        return DataSplit(**fields)

    @cached_property
    def tiny_data(self):
        return self.data()

    def train_config(self, **changes):
        from idc_lite.training.config import TrainConfig

        return TrainConfig(**{"epochs": 1, "batch_size": 8, "lr": 1e-3, "start_ema_step": 0, "update_ema_interval": 1,
                              **changes})

    def trainer(self, **changes):
        from idc_lite.model.classifier import IDCClassifier
        from idc_lite.training.trainer import Trainer

        return Trainer(IDCClassifier(self.config), self.train_config(**changes), self.tiny_data)

    @cached_property
    def checkpoint_1(self) -> Path:
        """A kit checkpoint trained 1 epoch, with its record."""
        trainer = self.trainer(epochs=1)
        path = self.folder / "base" / "one.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        trainer.train(progress=False, checkpoint_path=path)
        return path

    @cached_property
    def checkpoint_2(self) -> Path:
        trainer = self.trainer(epochs=2)
        path = self.folder / "base" / "two.pt"
        trainer.train(progress=False, checkpoint_path=path)
        return path

    def copy_checkpoint(self, source: Path | None = None, name: str = "model.pt") -> Path:
        source = source or self.checkpoint_1
        target = self.path(name)
        shutil.copyfile(source, target)
        if source.with_suffix(".json").exists():
            shutil.copyfile(source.with_suffix(".json"), target.with_suffix(".json"))
        return target

    def file_with(self, name: str, data: bytes) -> Path:
        path = self.path(name)
        path.write_bytes(data)
        return path

    def torch_file(self, name: str, obj) -> Path:
        path = self.path(name)
        torch.save(obj, path)
        return path

    def checkpoint_state(self, **changes) -> Path:
        """A copy of checkpoint_1's state with entries changed (None: removed)."""
        state = torch.load(self.checkpoint_1, weights_only=True)
        for key, value in changes.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        return self.torch_file("edited.pt", state)

    @cached_property
    def official_fixture(self) -> Path | None:
        sys.path.insert(0, str(Path(__file__).parent))
        from conftest import official_fixture_dir

        return official_fixture_dir()


def with_environment(values: dict, call):
    """``call()`` with environment variables set, then restored."""
    from idc_lite.foundation.runtime import environment

    with environment(**values):
        return call()


def g(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def noise_draws(env, nan_at: int | None = None, inf_at: int | None = None) -> list[torch.Tensor]:
    """The sampler's draws for env.x, given explicitly; one value of draw ``nan_at`` / ``inf_at`` made NaN / inf."""
    draws = [torch.randn(env.x.shape, generator=g(i + 1)) for i in range(env.model.bridge.num_noise_draws)]
    if nan_at is not None:
        draws[nan_at][0, 0, 0, 0] = float("nan")
    if inf_at is not None:
        draws[inf_at][0, 0, 0, 0] = float("inf")
    return draws


def cli(main, argv: list[str]) -> tuple[int, str]:
    """Run a command line's ``main(argv)`` in this process: (exit status, stderr)."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = main(argv)
        except SystemExit as exit_:   # argparse errors
            code = exit_.code if isinstance(exit_.code, int) else 2
    return code, err.getvalue()


# ---- bad values, reused across entry points -------------------------------------------------------
def bad_images(x: torch.Tensor) -> dict[str, tuple[object, str]]:
    """{what: (value, message pattern)} for a batch x (B, 1, 8, 8) in [0, 1]."""
    nan, inf = x.clone(), x.clone()
    nan[0, 0, 0, 0] = float("nan")
    inf[1, 0, 2, 2] = float("inf")
    return {
        "a list": (x.tolist(), "torch.Tensor"),
        "a numpy array": (x.numpy(), "torch.Tensor"),
        "uint8 images": ((x * 255).to(torch.uint8), "floating point.*255"),
        "int64 images": ((x * 255).long(), "floating point"),
        "bool images": (x > 0.5, "floating point"),
        "one image without batch dimension": (x[0], "batch dimension"),
        "channels-last": (x.permute(0, 2, 3, 1), "channel"),
        "wrong size 7x7": (x[:, :, :7, :7], "8x8|must have"),
        "3 channels": (x.expand(-1, 3, -1, -1), "channel"),
        "empty batch": (x[:0], "empty"),
        "a NaN pixel": (nan, "NaN"),
        "an infinite pixel": (inf, "NaN or infinite"),
        "values in [0, 255]": (x * 255, r"\[0, 1\].*255"),
        "values in [-1, 1]": (x * 2 - 1, r"\[0, 1\]"),
    }


FEW_IMAGE_KINDS = ("a list", "uint8 images", "a NaN pixel", "values in [0, 255]", "wrong size 7x7")


def bad_labels(labels: torch.Tensor) -> dict[str, tuple[object, str]]:
    """{what: (value, message pattern)} for labels (4,) of 4 classes."""
    return {
        "one label for four images": (labels[:1], "one entry per image"),
        "six labels for four images": (torch.arange(6) % 4, "one entry per image"),
        "label -1": (torch.tensor([0, 1, -1, 3]), "class indices"),
        "label equal to the number of classes": (torch.tensor([0, 1, 4, 3]), "class indices"),
        "float labels": (labels.float(), "integer class indices"),
        "one-hot labels": (torch.nn.functional.one_hot(labels, 4), "one-hot"),
        "bool labels": (labels > 1, "integer class indices"),
        "a list of labels": (labels.tolist(), "torch.Tensor"),
        "labels shaped (B, 1)": (labels[:, None], "1-D"),
    }


FEW_LABEL_KINDS = ("one label for four images", "label -1", "float labels", "one-hot labels")


# ---- image-taking entry points: name -> call(env, x) -----------------------------------------------
def _pgd_settings(**changes):
    from idc_lite.evaluation.attacks import PGDSettings

    return PGDSettings(**{"eps": 8 / 255, "alpha": 2 / 255, "steps": 1, **changes})


def image_entry_points() -> dict[str, Callable]:
    import idc_lite.evaluation.attacks as attacks
    import idc_lite.evaluation.protocol as protocol
    import idc_lite.evaluation.scoring as scoring
    import idc_lite.model.accuracy as accuracy

    return {
        "IDCClassifier.forward": lambda env, x: env.model(x, generator=g()),
        "IDCClassifier.predict": lambda env, x: env.model.predict(x, generator=g()),
        "IDCClassifier.sample": lambda env, x: env.model.sample(x, generator=g()),
        "SmallCNN.forward": lambda env, x: env.cnn(x),
        "attacks.pgd": lambda env, x: attacks.pgd(env.model, x, env.labels, _pgd_settings(), g()),
        "evaluation.evaluate_attacks": lambda env, x: protocol.evaluate_attacks(env.model, x, env.labels, [], draws=1),
        "scoring.score_under_rule": lambda env, x: scoring.score_under_rule(env.model, x, env.labels, "one", g(), draws=1),
        "attacks.pgd_linf": lambda env, x: attacks.pgd_linf(env.model, x, env.labels, _pgd_settings(), g()),
        "attacks.fgsm": lambda env, x: attacks.fgsm(env.model, x, env.labels, 8 / 255, g()),
        "attacks.mi_fgsm": lambda env, x: attacks.mi_fgsm(env.model, x, env.labels, 8 / 255, 2 / 255, 1, g()),
        "attacks.square_linf": lambda env, x: attacks.square_linf(env.model, x, env.labels, 8 / 255, 1, g()),
        "attacks.cw_l2": lambda env, x: attacks.cw_l2(env.model, x, env.labels, g(), steps=1),
        "attacks.loss_and_grad": lambda env, x: attacks.loss_and_grad(env.model, x, env.labels, "ce", g()),
        "attacks.other_class_start": lambda env, x: attacks.other_class_start(x, env.labels, 8 / 255),
        "accuracy.predictions_over_draws": lambda env, x: accuracy.predictions_over_draws(env.model, x, [g()]),
        "accuracy.accuracy_over_draws": lambda env, x: accuracy.accuracy_over_draws(env.model, x, env.labels, [0]),
        "accuracy.evaluate_accuracy": lambda env, x: accuracy.evaluate_accuracy(env.model, x, env.labels, g()),
    }


ALL_IMAGE_KINDS_FOR = ("IDCClassifier.forward", "IDCClassifier.predict", "SmallCNN.forward", "attacks.pgd",
                       "evaluation.evaluate_attacks", "scoring.score_under_rule")


def label_entry_points() -> dict[str, Callable]:
    import idc_lite.evaluation.attacks as attacks
    import idc_lite.evaluation.protocol as protocol
    import idc_lite.evaluation.scoring as scoring
    import idc_lite.model.accuracy as accuracy

    return {
        "attacks.pgd": lambda env, y: attacks.pgd(env.model, env.x, y, _pgd_settings(), g()),
        "evaluation.evaluate_attacks": lambda env, y: protocol.evaluate_attacks(env.model, env.x, y, [], draws=1),
        "scoring.score_under_rule": lambda env, y: scoring.score_under_rule(env.model, env.x, y, "one", g(), draws=1),
        "attacks.pgd (margin loss)": lambda env, y: attacks.pgd(env.model, env.x, y, _pgd_settings(loss="margin"), g()),
        "attacks.pgd_linf": lambda env, y: attacks.pgd_linf(env.model, env.x, y, _pgd_settings(), g()),
        "attacks.fgsm": lambda env, y: attacks.fgsm(env.model, env.x, y, 8 / 255, g()),
        "attacks.square_linf": lambda env, y: attacks.square_linf(env.model, env.x, y, 8 / 255, 1, g()),
        "attacks.cw_l2": lambda env, y: attacks.cw_l2(env.model, env.x, y, g(), steps=1),
        "scoring.correct_under_rule": lambda env, y: scoring.correct_under_rule(env.model, env.x, y, "majority", g(), draws=2),
        "accuracy.accuracy_over_draws": lambda env, y: accuracy.accuracy_over_draws(env.model, env.x, y, [0]),
        "accuracy.evaluate_accuracy": lambda env, y: accuracy.evaluate_accuracy(env.model, env.x, y, g()),
        "Trainer.loss_on_batch": lambda env, y: env.trainer().loss_on_batch(env.x, y),
        "attacks.attack_loss": lambda env, y: attacks.attack_loss(torch.zeros(4, 4), y, "margin"),
    }


ALL_LABEL_KINDS_FOR = ("attacks.pgd", "evaluation.evaluate_attacks", "scoring.score_under_rule")


def cases() -> list[Case]:
    import idc_lite.authors.checkpoint as authors_checkpoint
    import idc_lite.cli.evaluate as evaluate_command
    import idc_lite.cli.reproduce as reproduce_command
    import idc_lite.cli.train as cli_module
    import idc_lite.cli.verify as verify
    import idc_lite.comparisons.baselines as baselines
    import idc_lite.data.datasets as datasets
    import idc_lite.evaluation.attacks as attacks
    import idc_lite.evaluation.examples as examples
    import idc_lite.evaluation.protocol as protocol
    import idc_lite.evaluation.sanity as sanity
    import idc_lite.evaluation.scoring as scoring
    import idc_lite.foundation.uncertainty as uncertainty
    import idc_lite.model.accuracy as accuracy
    import idc_lite.model.config as model_config
    import idc_lite.model.label_images as label_images
    import idc_lite.runs.folders as folders
    import idc_lite.runs.parameters as parameters
    import idc_lite.runs.reproduce as reproduce
    import idc_lite.training.checkpoint as kit_checkpoint
    import idc_lite.training.config as train_config
    import idc_lite.training.trainer as trainer_module
    from idc_lite.comparisons.diffusion_defences import DefenceSettings

    out: list[Case] = []
    x0 = torch.rand(4, 1, 8, 8, generator=g())
    images, labels = bad_images(x0), bad_labels(torch.tensor([0, 1, 2, 3]))

    # -- images and labels at every entry point that takes them
    for entry, call in image_entry_points().items():
        kinds = images if entry in ALL_IMAGE_KINDS_FOR else {k: images[k] for k in FEW_IMAGE_KINDS}
        if entry == "attacks.other_class_start":    # it queries no model: any image size is valid
            kinds = {k: v for k, v in kinds.items() if k != "wrong size 7x7"}
        for what, (value, pattern) in kinds.items():
            out.append(Case(entry, what, lambda env, call=call, value=value: call(env, value), "InputError", pattern))
    for entry, call in label_entry_points().items():
        kinds = labels if entry in ALL_LABEL_KINDS_FOR else {k: labels[k] for k in FEW_LABEL_KINDS}
        for what, (value, pattern) in kinds.items():
            out.append(Case(entry, what, lambda env, call=call, value=value: call(env, value), "InputError", pattern))

    # -- the dtype policy: other floating dtypes give the model's float32 answer
    def same_as_float32(call):
        def check(env, result):
            expected = call(env, env.x)
            assert result.dtype == expected.dtype and torch.allclose(result.float(), expected.float(), atol=1e-2), \
                "result differs from the float32 input's"
        return check

    def adversarial_batch(env, result):
        assert result.shape == env.x.shape and result.is_floating_point(), "not an adversarial batch like x"

    entries = image_entry_points()
    for dtype in (torch.float16, torch.bfloat16, torch.float64):
        for entry in ("IDCClassifier.forward", "IDCClassifier.predict", "SmallCNN.forward"):
            call = entries[entry]
            out.append(Case(entry, f"{dtype} images (cast, documented)",
                            lambda env, call=call, dtype=dtype: call(env, env.x.to(dtype)), "ok",
                            check=same_as_float32(call)))
        out.append(Case("attacks.pgd", f"{dtype} images (cast, documented)",
                        lambda env, dtype=dtype: attacks.pgd(env.model, env.x.to(dtype), env.labels, _pgd_settings(), g()), "ok",
                        check=adversarial_batch))
    out.append(Case("attacks.pgd", "int32 labels (cast, documented)",
                    lambda env: attacks.pgd(env.model, env.x, env.labels.int(), _pgd_settings(), g()), "ok"))

    # -- budgets, steps and options of the attacks
    for what, changes, pattern in [
        ("negative eps", {"eps": -0.1}, "eps must be >= 0"),
        ("eps 8 (a forgotten /255)", {"eps": 8}, "eps must be <= 1.*8/255"),
        ("NaN eps", {"eps": float("nan")}, "eps must be finite"),
        ("infinite eps", {"eps": float("inf")}, "eps must be finite"),
        ("eps as a string", {"eps": "8/255"}, "eps must be a number"),
        ("alpha 0", {"alpha": 0.0}, "alpha must be > 0"),
        ("negative alpha", {"alpha": -0.01}, "alpha must be > 0"),
        ("negative steps", {"steps": -1}, "steps must be >= 0"),
        ("fractional steps", {"steps": 2.5}, "steps must be a whole number"),
        ("restarts 0", {"restarts": 0}, "restarts must be >= 1"),
        ("eot_samples 0", {"eot_samples": 0}, "eot_samples must be >= 1"),
        ("norm 'L3'", {"norm": "L3"}, "norm must be one of"),
        ("loss 'hinge'", {"loss": "hinge"}, "loss must be one of"),
        ("random_start 'yes'", {"random_start": "yes"}, "random_start must be True or False"),
    ]:
        out.append(Case("attacks.PGDSettings", what, lambda env, changes=changes: _pgd_settings(**changes), "InputError",
                        pattern))
    for entry, what, call, pattern in [
        ("attacks.fgsm", "negative eps", lambda env: attacks.fgsm(env.model, env.x, env.labels, -0.03, g()), "eps must be >= 0"),
        ("attacks.fgsm", "eps 8 (a forgotten /255)", lambda env: attacks.fgsm(env.model, env.x, env.labels, 8, g()), "<= 1"),
        ("attacks.fgsm", "NaN eps", lambda env: attacks.fgsm(env.model, env.x, env.labels, float("nan"), g()), "finite"),
        ("attacks.fgsm", "generator given as an int", lambda env: attacks.fgsm(env.model, env.x, env.labels, 0.03, 0),
         "torch.Generator"),
        ("attacks.mi_fgsm", "negative steps", lambda env: attacks.mi_fgsm(env.model, env.x, env.labels, 0.03, 0.01, -1, g()),
         "steps must be >= 0"),
        ("attacks.mi_fgsm", "alpha 0", lambda env: attacks.mi_fgsm(env.model, env.x, env.labels, 0.03, 0.0, 1, g()), "alpha"),
        ("attacks.square_linf", "negative queries", lambda env: attacks.square_linf(env.model, env.x, env.labels, 0.03, -1, g()),
         "queries must be >= 0"),
        ("attacks.square_linf", "p_init 0", lambda env: attacks.square_linf(env.model, env.x, env.labels, 0.03, 1, g(), p_init=0),
         "p_init"),
        ("attacks.cw_l2", "c 0", lambda env: attacks.cw_l2(env.model, env.x, env.labels, g(), c=0.0), "c must be > 0"),
        ("attacks.cw_l2", "negative steps", lambda env: attacks.cw_l2(env.model, env.x, env.labels, g(), steps=-3),
         "steps must be >= 0"),
        ("attacks.other_class_start", "negative eps", lambda env: attacks.other_class_start(env.x, env.labels, -0.1),
         "eps must be >= 0"),
        ("attacks.pgd", "generator given as an int", lambda env: attacks.pgd(env.model, env.x, env.labels, _pgd_settings(), 0),
         "torch.Generator"),
        ("attacks.pgd", "settings as a dict", lambda env: attacks.pgd(env.model, env.x, env.labels, {"eps": 0.03}, g()),
         "PGDSettings"),
        ("attacks.pgd", "start of another shape", lambda env: attacks.pgd(env.model, env.x, env.labels, _pgd_settings(), g(),
                                                                    start=env.x[:2]), "shape of x"),
        ("attacks.attack_loss", "loss 'hinge'", lambda env: attacks.attack_loss(torch.zeros(4, 4), env.labels, "hinge"),
         "loss must be one of"),
        ("attacks.autoattack_rand", "eps 8 (a forgotten /255)",
         lambda env: attacks.autoattack_rand(env.model, env.x, env.labels, 8, g()), "<= 1"),
        ("attacks.autoattack_rand", "n_iter 0", lambda env: attacks.autoattack_rand(env.model, env.x, env.labels, 0.03, g(), n_iter=0),
         "n_iter must be >= 1"),
        ("DefenceSettings", "more reverse steps than t* + 1",
         lambda env: DefenceSettings(t_star=10, reverse_steps=12), "at most t_star \\+ 1 = 11"),
        ("DefenceSettings", "no example to attack", lambda env: DefenceSettings(classifier_examples=0),
         "classifier_examples must be >= 1"),
        ("DefenceSettings", "a negative batch cap", lambda env: DefenceSettings(max_batches=-1), "max_batches must be >= 0"),
        ("IDCClassifier.forward", "generator given as an int", lambda env: env.model(env.x, generator=0), "torch.Generator"),
        ("IDCClassifier.forward", "noise with a NaN", lambda env: env.model(env.x, noise=noise_draws(env, nan_at=1)),
         "noise\\[1\\] contains 1 NaN or infinite"),
        ("IDCClassifier.forward", "noise with an infinity", lambda env: env.model(env.x, noise=noise_draws(env, inf_at=0)),
         "noise\\[0\\] contains 1 NaN or infinite"),
        ("IDCClassifier.forward", "noise as one tensor with a NaN",
         lambda env: env.model(env.x, noise=torch.stack(noise_draws(env, nan_at=2))), "noise\\[2\\] contains 1 NaN"),
        ("IDCClassifier.forward", "noise: one draw too few", lambda env: env.model(env.x, noise=noise_draws(env)[1:]),
         "must hold 3 tensors"),
        ("IDCClassifier.forward", "noise of another shape", lambda env: env.model(env.x, noise=[d[:1] for d in noise_draws(env)]),
         "must have the input's shape"),
        ("IDCClassifier.forward", "noise as a list of floats", lambda env: env.model(env.x, noise=[0.0, 0.0, 0.0]),
         "noise\\[0\\] must be a floating torch.Tensor"),
        ("IDCClassifier.forward", "noise and a generator", lambda env: env.model(env.x, generator=g(), noise=noise_draws(env)),
         "exactly one of generator= or noise="),
        ("IDCClassifier.sample", "noise with a NaN", lambda env: env.model.sample(env.x, noise=noise_draws(env, nan_at=0)),
         "noise\\[0\\] contains 1 NaN"),
        ("IDCClassifier.predict", "batch_size 0", lambda env: env.model.predict(env.x, generator=g(), batch_size=0),
         "batch_size must be >= 1"),
        ("IDCClassifier.set_generator", "an int", lambda env: env.model.set_generator(0), "torch.Generator"),
        ("scoring.score_under_rule", "rule 'best'", lambda env: scoring.score_under_rule(env.model, env.x, env.labels, "best", g()),
         "rule must be one of"),
        ("scoring.score_under_rule", "draws 0", lambda env: scoring.score_under_rule(env.model, env.x, env.labels, "one", g(), 0),
         "draws must be >= 1"),
        ("scoring.score_under_rule", "generator given as an int",
         lambda env: scoring.score_under_rule(env.model, env.x, env.labels, "one", 3), "torch.Generator"),
        ("accuracy.predictions_over_draws", "batch_size 0",
         lambda env: accuracy.predictions_over_draws(env.model, env.x, [g()], batch_size=0), "batch_size must be >= 1"),
        ("accuracy.predictions_over_draws", "no generators", lambda env: accuracy.predictions_over_draws(env.model, env.x, []),
         "non-empty list"),
        ("accuracy.majority_vote", "classes beyond num_classes",
         lambda env: accuracy.majority_vote(torch.tensor([[0, 5]]), 4), r"\[0, 3\]"),
        ("scoring.worst_case", "no attack results", lambda env: scoring.worst_case({}), "no attack results"),
        ("evaluation.evaluate_attacks", "batch_size 0", lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [], batch_size=0),
         "batch_size must be >= 1"),
        ("evaluation.evaluate_attacks", "draws 0", lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [], draws=0),
         "draws must be >= 1"),
        ("evaluation.evaluate_attacks", "rule 'best'", lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [], rule="best"),
         "rule must be one of"),
        ("evaluation.evaluate_attacks", "negative seed", lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [], seed=-1),
         "seed must be >= 0"),
        ("evaluation.evaluate_attacks", "negative l2_budget", lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [], l2_budget=-1.0),
         "l2_budget"),
        ("evaluation.evaluate_attacks", "attacks not AttackSpec",
         lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [{"kind": "pgd"}]), "AttackSpec"),
        ("evaluation.evaluate_attacks", "two attacks with one name",
         lambda env: protocol.evaluate_attacks(env.model, env.x, env.labels, [protocol.AttackSpec("a", "fgsm", {"eps": 0.03})] * 2),
         "unique"),
        ("evaluation.AttackSpec", "unknown kind", lambda env: protocol.AttackSpec("a", "deepfool"), "attack kind must be one of"),
        ("evaluation.AttackSpec", "unknown target", lambda env: protocol.AttackSpec("a", "pgd", target="oracle"), "target"),
        ("evaluation.AttackSpec", "transfer without source", lambda env: protocol.AttackSpec("a", "pgd", target="transfer"),
         "source"),
        ("evaluation.AttackSpec", "unknown PGD setting", lambda env: protocol.AttackSpec("a", "pgd", {"epsilon": 0.03}),
         "unknown setting"),
        ("evaluation.AttackSpec", "negative PGD eps", lambda env: protocol.AttackSpec("a", "pgd", {"eps": -0.03}), "eps must be >= 0"),
        ("evaluation.AttackSpec", "FGSM eps 8", lambda env: protocol.AttackSpec("a", "fgsm", {"eps": 8}), "<= 1"),
        ("evaluation.AttackSpec", "start_from on FGSM", lambda env: protocol.AttackSpec("a", "fgsm", {"eps": 0.03}, start_from="b"),
         "start_from"),
        ("evaluation.accuracy_curve", "negative eps", lambda env: protocol.accuracy_curve(env.model, env.x, env.labels, [-0.1],
                                                                                   lambda e: []), "eps_values"),
        ("evaluation.accuracy_curve", "count 'both'", lambda env: protocol.accuracy_curve(env.model, env.x, env.labels, [0.0],
                                                                                   lambda e: [], count="both"), "count"),
        ("evaluation.rescore", "examples of another shape",
         lambda env: protocol.rescore(env.model, env.x, env.labels, {"a": env.x[:2]}, "one"), "shape of x"),
        ("evaluation.save_examples", "labels of the wrong length",
         lambda env: examples.save_examples(env.path("ex.pt"), env.x, env.labels[:2]), "one entry per image"),
        ("accuracy.accuracy_over_draws", "no seeds", lambda env: accuracy.accuracy_over_draws(env.model, env.x, env.labels, []),
         "seeds"),
    ]:
        out.append(Case(entry, what, call, "InputError", pattern))

    # -- configurations
    for what, changes, pattern in [
        ("epochs -1", {"epochs": -1}, "epochs must be >= 0"), ("epochs 'ten'", {"epochs": "ten"}, "whole number"),
        ("batch_size 0", {"batch_size": 0}, "batch_size must be >= 1"), ("lr 0", {"lr": 0.0}, "lr must be > 0"),
        ("lr NaN", {"lr": float("nan")}, "finite"), ("lr_scheduler 'cosine!'", {"lr_scheduler": "cosine!"}, "lr_scheduler"),
        ("augment 'mixup'", {"augment": "mixup"}, "augment"), ("ema_decay 2", {"ema_decay": 2.0}, "ema_decay must be <= 1"),
        ("use_ema 'yes'", {"use_ema": "yes"}, "True or False"),
    ]:
        out.append(Case("training.TrainConfig", what, lambda env, changes=changes: env.train_config(**changes), "InputError",
                        pattern))
    for entry, what, call, pattern in [
        ("training.TrainConfig", "unknown option in from_dict", lambda env: train_config.TrainConfig.from_dict({"epoch": 3}),
         "unknown training option"),
        ("config.IDCConfig", "one class", lambda env: model_config.IDCConfig(num_classes=1), "num_classes must be >= 2"),
        ("config.IDCConfig", "tau 0", lambda env: model_config.IDCConfig(tau=0.0), "tau must be > 0"),
        ("config.IDCConfig", "negative eta", lambda env: model_config.IDCConfig(eta=-1.0), "eta must be >= 0"),
        ("config.IDCConfig", "0 timesteps", lambda env: model_config.IDCConfig(num_timesteps=0), "num_timesteps must be >= 1"),
        ("config.IDCConfig", "mt_type 'cosine'", lambda env: model_config.IDCConfig(mt_type="cosine"), "mt_type"),
        ("config.IDCConfig", "unknown key in from_dict", lambda env: model_config.IDCConfig.from_dict({"timesteps": 4}), "unknown"),
        ("IDCClassifier", "config as a dict", lambda env: __import__("idc_lite.model.classifier").model.classifier.IDCClassifier(
            {"num_classes": 4}), "IDCConfig"),
        ("label_images.make_label_images", "more classes than pixels",
         lambda env: label_images.make_label_images(70, (1, 8, 8)), "orthogonal"),
        ("Trainer", "model given as None", lambda env: trainer_module.Trainer(None, env.train_config(), env.tiny_data), "model"),
        ("Trainer", "data for another image size",
         lambda env: trainer_module.Trainer(env.model, env.train_config(), env.data(x_train=torch.rand(16, 1, 4, 4),
                                                                       x_test=torch.rand(4, 1, 4, 4))), "do not fit"),
        ("Trainer.train", "epochs set to -1 after construction",
         lambda env: (t := env.trainer(), setattr(t.config, "epochs", -1), t.train(progress=False)), "epochs must be >= 0"),
        ("Trainer.train", "max_batches 0", lambda env: env.trainer().train(progress=False, max_batches=0),
         "max_batches must be >= 1"),
        ("Trainer.train", "fewer epochs than already trained",
         lambda env: trainer_module.Trainer.resume(env.checkpoint_2, env.tiny_data).train(epochs=1, progress=False),
         "already trained 2 epochs"),
        ("Trainer.save", "a path without .pt", lambda env: env.trainer().save(env.path("model.ckpt")), r"\.pt"),
        ("baselines.train_cnn", "batch_size 0", lambda env: baselines.train_cnn(env.tiny_data, epochs=1, batch_size=0),
         "batch_size must be >= 1"),
        ("baselines.train_cnn", "lr -1", lambda env: baselines.train_cnn(env.tiny_data, epochs=1, lr=-1.0), "lr must be > 0"),
        ("uncertainty.estimate", "Wilson on scores averaged over draws", lambda env: uncertainty.estimate([1.0, 0.6], "wilson"),
         "one-draw outcomes"),
        ("uncertainty.estimate", "a score above 1", lambda env: uncertainty.estimate([1.5], "bootstrap"), r"in \[0, 1\]"),
        ("uncertainty.estimate", "no examples", lambda env: uncertainty.estimate([], "bootstrap"), "at least one"),
        ("uncertainty.estimate", "an unknown method", lambda env: uncertainty.estimate([1.0], "normal"), "method must be one of"),
        ("uncertainty.paired_difference", "different examples", lambda env: uncertainty.paired_difference([1, 0], [1]),
         "same examples"),
        ("uncertainty.seeds_estimate", "seeds scored on different examples",
         lambda env: uncertainty.seeds_estimate([[1, 0, 1], [1, 0]]), "same examples"),
        ("uncertainty.seeds_estimate", "one list, not a list per seed",
         lambda env: uncertainty.seeds_estimate([1, 0, 1]), "one list per seed"),
        ("uncertainty.seeds_difference", "the models on different examples",
         lambda env: uncertainty.seeds_difference([[1, 0]], [[1, 0, 1]]), "same examples"),
        ("uncertainty.mcnemar_exact", "averaged scores", lambda env: uncertainty.mcnemar_exact([0.5], [1]), "0/1 outcomes"),
        ("sanity.choose_main_budget", "an empty grid",
         lambda env: sanity.choose_main_budget(env.cnn, env.x, env.labels, []), "grid_255 must be budgets"),
        ("sanity.choose_main_budget", "a word in the grid",
         lambda env: sanity.choose_main_budget(env.cnn, env.x, env.labels, "16,big"), "grid_255 must be budgets"),
        ("sanity.choose_main_budget", "a negative budget",
         lambda env: sanity.choose_main_budget(env.cnn, env.x, env.labels, [-8]), "grid_255 must be budgets"),
    ]:
        out.append(Case(entry, what, call, "InputError", pattern))

    # -- training data
    for what, changes, pattern in [
        ("images in [0, 255]", {"x_train": torch.rand(16, 1, 8, 8) * 255}, r"\[0, 1\].*255"),
        ("a NaN pixel", {"x_train": torch.rand(16, 1, 8, 8).index_put_((torch.tensor([3]),), torch.tensor(float("nan")))},
         "NaN"),
        ("uint8 images", {"x_test": (torch.rand(4, 1, 8, 8) * 255).to(torch.uint8)}, "floating point"),
        ("float labels", {"y_train": (torch.arange(16) % 4).float()}, "integer class indices"),
        ("a label beyond the classes", {"y_test": torch.tensor([0, 1, 2, 7])}, r"\[0, 3\]"),
        ("fewer labels than images", {"y_train": torch.arange(15) % 4}, "one entry per image"),
        ("one class name", {"class_names": ["a"]}, "at least two"),
        ("train and test of different sizes", {"x_test": torch.rand(4, 1, 6, 6)}, "differ in shape"),
    ]:
        out.append(Case("data.DataSplit", what, lambda env, changes=changes: env.data(**changes), "DataError", pattern))
    for what, kwargs, pattern in [
        ("test_fraction 0", {"test_fraction": 0.0}, "strictly between 0 and 1"),
        ("test_fraction 1", {"test_fraction": 1.0}, "strictly between 0 and 1"),
        ("test_fraction 1.5", {"test_fraction": 1.5}, "strictly between 0 and 1"),
        ("test_fraction -0.2", {"test_fraction": -0.2}, "strictly between 0 and 1"),
        ("image_size 0", {"image_size": 0}, "image_size must be >= 4"),
        ("image_size '16'", {"image_size": "16"}, "whole number"),
    ]:
        out.append(Case("data.load_digits", what, lambda env, kwargs=kwargs: datasets.load_digits(**kwargs), "InputError", pattern))

    def empty_mnist(env):
        root = env.path("mnist_root").parent
        raw = root / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                     "t10k-labels-idx1-ubyte"):
            (raw / name).write_bytes(b"")
        return datasets.load_dataset("mnist", root=root)

    out += [
        Case("data.load_dataset", "unknown dataset name", lambda env: datasets.load_dataset("imagenet"), "InputError",
             "unknown dataset"),
        Case("data.load_dataset", "MNIST missing offline", lambda env: datasets.load_dataset("mnist", root=env.path("none").parent),
             "DataNotFoundError", "IDC_LITE_DATA"),
        Case("data.load_dataset", "empty MNIST files", empty_mnist, "DataError", "corrupt or incomplete"),
    ]

    # -- checkpoints: reading
    def pickled_code(env):
        return env.torch_file("evil.pt", {"format": "idc_lite-checkpoint-1", "payload": Path("x")})

    kit_readers = {"checkpoint.load_classifier": lambda p: kit_checkpoint.load_classifier(p),
                   "Trainer.resume": lambda p: trainer_module.Trainer.resume(p, Env.current.tiny_data)}
    for entry, read in kit_readers.items():
        for what, make, pattern in [
            ("a missing file", lambda env: env.path("missing.pt"), "no checkpoint"),
            ("a folder", lambda env: env.path("x").parent, "folder"),
            ("an empty file", lambda env: env.file_with("empty.pt", b""), "empty"),
            ("a truncated file", lambda env: env.file_with("cut.pt", env.checkpoint_1.read_bytes()[:500]), "cannot read"),
            ("random bytes", lambda env: env.file_with("noise.pt", bytes(range(256)) * 4), "cannot read"),
            ("a pickle that needs code", pickled_code, "refused for safety"),
            ("a checkpoint of the authors' format", lambda env: env.torch_file("official.pt", {"model": {}}), "authors"),
            ("no 'config' entry", lambda env: env.checkpoint_state(config=None), "'config'"),
            ("a 'config' that is not JSON", lambda env: env.checkpoint_state(config="{not json"), "not valid JSON"),
            ("a 'config' with an unknown key", lambda env: env.checkpoint_state(config=json.dumps({"depth": 3})), "unknown"),
            ("a CNN file", lambda env: baselines.save_cnn(env.cnn, env.path("cnn.pt")), "not an idc_lite checkpoint"),
        ]:
            out.append(Case(entry, what, lambda env, read=read, make=make: read(make(env)), "CheckpointError", pattern))
    out += [
        Case("Trainer.resume", "no 'train_config' entry",
             lambda env: trainer_module.Trainer.resume(env.checkpoint_state(train_config=None), env.tiny_data), "CheckpointError",
             "train_config"),
        Case("Trainer.resume", "data of another split",
             lambda env: trainer_module.Trainer.resume(env.checkpoint_1, env.data(info={"dataset": "other"})), "CheckpointError",
             "trained on"),
        Case("checkpoint.load_classifier", "weights 'best'", lambda env: kit_checkpoint.load_classifier(env.checkpoint_1, weights="best"),
             "InputError", "weights must be one of"),
        Case("baselines.load_cnn", "an IDC checkpoint", lambda env: baselines.load_cnn(env.checkpoint_1), "CheckpointError",
             "not an idc_lite CNN"),
        Case("baselines.load_cnn", "a truncated file",
             lambda env: baselines.load_cnn(env.file_with("cnn.pt", env.checkpoint_1.read_bytes()[:300])), "CheckpointError",
             "cannot read"),
        Case("evaluation.load_examples", "an IDC checkpoint", lambda env: examples.load_examples(env.checkpoint_1),
             "CheckpointError", "not an idc_lite examples file"),
        Case("authors.load_official_classifier", "a kit checkpoint",
             lambda env: authors_checkpoint.load_official_classifier(env.checkpoint_1, env.config), "CheckpointError",
             "not an official IDC checkpoint"),
        Case("authors.load_official_classifier", "config given as a dict",
             lambda env: authors_checkpoint.load_official_classifier(env.checkpoint_1, {"num_classes": 4}), "InputError", "IDCConfig"),
        Case("authors.load_official_classifier", "a configuration with other tensor shapes",
             lambda env: authors_checkpoint.load_official_classifier(
                 env.torch_file("official.pt", {key: {f"denoise_fn.{k}": v for k, v in env.model.unet.state_dict().items()}
                                                for key in ("model", "ema")}),
                 model_config.IDCConfig(num_classes=4, unet=__import__("idc_lite.model.unet").model.unet.UNetConfig(
                     image_size=8, model_channels=64, channel_mult=(1, 2), num_heads=2))),
             "CheckpointError", "does not fit"),
    ]

    # -- checkpoints and their records: stale, foreign, overwritten, diverged
    def stale_record(env):
        path = env.copy_checkpoint()
        shutil.copyfile(env.checkpoint_2, path)          # a crash after the .pt write, before the record's
        return kit_checkpoint.checkpoint_record(path)

    def foreign_record(env):
        path = env.copy_checkpoint()
        other = env.copy_checkpoint(env.checkpoint_2)
        shutil.copyfile(other.with_suffix(".json"), path.with_suffix(".json"))   # a record copied from another run
        return kit_checkpoint.load_checkpoint_data(path)

    def record_edit(text: str):
        def call(env):
            path = env.copy_checkpoint()
            path.with_suffix(".json").write_text(text)
            return kit_checkpoint.checkpoint_record(path)
        return call

    def save_over(env, source, **trainer_changes):
        target = env.copy_checkpoint(source)
        env.snapshot = {p: p.read_bytes() for p in (target, target.with_suffix(".json")) if p.exists()}
        trainer = env.trainer(**trainer_changes)
        trainer.train(progress=False)
        return trainer.save(target)

    def nan_training(env):
        target = env.copy_checkpoint(env.checkpoint_1)
        env.snapshot = {p: p.read_bytes() for p in (target, target.with_suffix(".json"))}
        trainer = trainer_module.Trainer.resume(target, env.tiny_data)
        trainer.config.lr = 1e30          # diverges within an epoch
        trainer.config.epochs = 3
        with torch.no_grad():
            for p in trainer.model.unet.parameters():
                p.mul_(1e30)
        return trainer.train(progress=False, checkpoint_path=target)

    def files_kept(env, _result=None):
        for path, data in env.snapshot.items():
            assert path.read_bytes() == data, f"{path.name} was changed"

    out += [
        Case("checkpoint.checkpoint_record", "a record older than its checkpoint", stale_record, "StaleRecordError",
             "does not describe.*Trust"),
        Case("checkpoint.load_checkpoint_data", "a record copied from another run", foreign_record, "StaleRecordError",
             "does not describe"),
        Case("checkpoint.checkpoint_record", "no record", lambda env: kit_checkpoint.checkpoint_record(env.file_with("lone.pt", b"x")),
             "CheckpointError", "no record"),
        Case("checkpoint.checkpoint_record", "a record that is not JSON", record_edit("{broken"), "CheckpointError",
             "not valid JSON"),
        Case("checkpoint.checkpoint_record", "a record without its data", record_edit('{"config": {}}'), "CheckpointError",
             "lacks"),
        Case("Trainer.save", "over a checkpoint with more training",
             lambda env: save_over(env, env.checkpoint_2, epochs=1), "OverwriteRefusedError", "more training",
             check=files_kept),
        Case("Trainer.save", "over a file that is not a checkpoint",
             lambda env: save_over(env, env.file_with("notes.pt", b"my notes")), "OverwriteRefusedError",
             "not a readable", check=files_kept),
        Case("Trainer.train", "a loss that becomes NaN", nan_training, "TrainingDivergedError",
             "last good checkpoint.*kept", check=files_kept),
    ]

    # -- command lines (run in this process; exit status and stderr)
    def train_cli(env, *argv, out_path=None):
        code, err = cli(cli_module.main, ["--preset", "digits", "--smoke", "--device", "cpu", *argv])
        return code, err

    def exit_case(entry, what, call, code, pattern, check=None):
        return Case(entry, what, call, f"exit {code}", pattern, check)

    def digits_checkpoint(env, epochs: int) -> Path:
        key = f"_digits_{epochs}"
        if not hasattr(env, key):
            path = env.folder / "base" / f"digits{epochs}.pt"
            code, err = cli(cli_module.main, ["--preset", "digits", "--smoke", "--device", "cpu", "--epochs", str(epochs),
                                     "--out", str(path)])
            assert code == 0, err
            setattr(env, key, path)
        return getattr(env, key)

    def with_copy(epochs, *argv):
        def call(env):
            target = env.copy_checkpoint(digits_checkpoint(env, epochs))
            env.snapshot = {p: p.read_bytes() for p in (target, target.with_suffix(".json"))}
            env.target = target
            return train_cli(env, "--out", str(target), *argv)
        return call

    def trained_to(epochs):
        def check(env, _result):
            assert json.loads(env.target.with_suffix(".json").read_text())["epoch"] == epochs, "not trained on"
        return check

    def out_folder(env):
        folder = env.path("x").parent / "run"
        env.target = folder / "model.pt"
        return train_cli(env, "--out", str(folder) + "/")

    def folder_used(env, _result):
        assert env.target.is_file() and not (env.target.parent / ".pt").exists(), "wrote a hidden .pt"

    def reference_files(env, json_text=None, npz_bytes=None, drop_key=None):
        fixture = env.official_fixture
        if fixture is None:
            raise RuntimeError("official fixture not found")
        ref_json = env.path("ref.json")
        text = json_text if json_text is not None else (fixture / "small_reference.json").read_text()
        if drop_key:
            data = json.loads(text)
            data.pop(drop_key)
            text = json.dumps(data)
        ref_json.write_text(text)
        ref_npz = ref_json.with_name("ref.npz")
        ref_npz.write_bytes(npz_bytes if npz_bytes is not None else (fixture / "small_reference.npz").read_bytes())
        return [str(fixture / "small_official_ckpt.pth"), str(ref_json), str(ref_npz)]

    def reproduce_out(env):
        env.target = env.path("x").parent / "run"
        return env.target

    def nothing_written(env, _result):
        assert not env.target.exists() or not any(env.target.iterdir()), "the run folder was written"

    def interrupted_run(env):
        run = env.path("x").parent / "run"
        (run / "notebooks").mkdir(parents=True)
        for name in ("01_label_images", "02_train_classifier"):
            nb = {"cells": [], "metadata": {"papermill": {"parameters": {"seed": 0, "smoke": True},
                                                          "duration": 1.5 if name.startswith("01") else None,
                                                          "exception": None}},
                  "nbformat": 4, "nbformat_minor": 5}
            (run / "notebooks" / f"{name}.ipynb").write_text(json.dumps(nb))
        env.target = run
        return cli(reproduce_command.main, ["--summarize", str(run)])

    def incomplete_report(env, _result):
        text = (env.target / "summary.md").read_text()
        assert "INCOMPLETE RUN" in text and "02_train_classifier" in text, text[:500]

    out += [
        exit_case("idc-lite train", "--out of an existing checkpoint, no flag", with_copy(2), 2,
                  "exists; --resume continues it", files_kept),
        exit_case("idc-lite train", "--resume --epochs 1 on a 2-epoch checkpoint", with_copy(2, "--resume",
                                                                                                      "--epochs", "1"),
                  2, "already trained 2 epochs", files_kept),
        exit_case("idc-lite train", "--resume --epochs 2 on a 1-epoch checkpoint (trains on)",
                  with_copy(1, "--resume", "--epochs", "2"), 0, "", trained_to(2)),
        exit_case("idc-lite train", "--resume and --overwrite together", with_copy(1, "--resume", "--overwrite"),
                  2, "give one of them", files_kept),
        exit_case("idc-lite train", "--eval-examples -5", lambda env: train_cli(env, "--out", str(env.path("m.pt")),
                                                                                        "--eval-examples", "-5"),
                  2, ">= 1"),
        exit_case("idc-lite train", "--epochs 0", lambda env: train_cli(env, "--out", str(env.path("m.pt")),
                                                                                "--epochs", "0"), 2, ">= 1"),
        exit_case("idc-lite train", "--epochs ten", lambda env: train_cli(env, "--out", str(env.path("m.pt")),
                                                                                  "--epochs", "ten"), 2, "whole number"),
        exit_case("idc-lite train", "--out dir/ (a folder gets model.pt)", out_folder, 0, "", folder_used),
        exit_case("idc-lite train", "--repair-record on a missing file",
                  lambda env: cli(cli_module.main, ["--repair-record", str(env.path("none.pt"))]), 2, "no checkpoint"),
        exit_case("idc-lite verify", "a reference JSON that is not JSON",
                  lambda env: cli(verify.main, [*reference_files(env, json_text="{oops")]), 3, "ref.json: not valid JSON"),
        exit_case("idc-lite verify", "a reference JSON without 'config'",
                  lambda env: cli(verify.main, [*reference_files(env, drop_key="config")]), 3,
                  "ref.json: missing key 'config'"),
        exit_case("idc-lite verify", "a reference .npz that is not a zip",
                  lambda env: cli(verify.main, [*reference_files(env, npz_bytes=b"not a zip")]), 3,
                  "ref.npz: not a readable"),
        exit_case("idc-lite verify", "a missing checkpoint",
                  lambda env: cli(verify.main, [str(env.path("none.pth")), *reference_files(env)[1:]]), 2,
                  "no such file"),
        exit_case("idc-lite verify", "a kit checkpoint instead of the authors'",
                  lambda env: cli(verify.main, [str(env.checkpoint_1), *reference_files(env)[1:]]), 2,
                  "not an official"),
        exit_case("idc-lite reproduce", "-p epochs '\"ten\"' (a mistyped value)",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env)), "-p", "epochs", '"ten"']), 2,
                  "epochs must be int.*nothing was run", nothing_written),
        exit_case("idc-lite reproduce", "-p epochs true (a bool for an int)",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env)), "-p", "epochs", "true"]), 2,
                  "epochs must be int", nothing_written),
        exit_case("idc-lite reproduce", "an unknown parameter name",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env)), "-p", "epoch", "3"]), 2,
                  "unknown parameter", nothing_written),
        exit_case("idc-lite reproduce", "-p model_path of a missing file",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env)), "-p", "model_path",
                                                           json.dumps(str(env.path("none.pt")))]), 2,
                  "model_path .*none.pt is not a usable checkpoint: no checkpoint at.*nothing was run", nothing_written),
        exit_case("idc-lite reproduce", "-p model_path of a file that is not a checkpoint",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env)), "-p", "model_path",
                                                           json.dumps(str(env.file_with("notes.pt", b"not a model")))]), 2,
                  "notes.pt is not a usable checkpoint.*nothing was run", nothing_written),
        exit_case("idc-lite reproduce", "$IDC_LITE_MODEL naming a text file",
                  lambda env: with_environment({"IDC_LITE_MODEL": str(env.file_with("model.txt", b"hello"))},
                                               lambda: cli(reproduce_command.main, ["--smoke", "--out", str(reproduce_out(env))])),
                  2, "model.txt is not a usable checkpoint.*nothing was run", nothing_written),
        exit_case("idc-lite reproduce", "--out that is a file",
                  lambda env: cli(reproduce_command.main, ["--smoke", "--out", str(env.file_with("run", b"notes"))]), 2, "is a file"),
        exit_case("idc-lite reproduce", "--summarize of a corrupt summary.json",
                  lambda env: (lambda run: ((run / "notebooks").mkdir(parents=True), (run / "summary.json").write_text("{"),
                                            cli(reproduce_command.main, ["--summarize", str(run)]))[-1])(env.path("x").parent / "r"),
                  2, "summary.json is corrupt"),
        exit_case("idc-lite reproduce", "--summarize of a folder that is not a run",
                  lambda env: cli(reproduce_command.main, ["--summarize", str(env.path("x").parent)]), 2, "not a run folder"),
        exit_case("idc-lite reproduce", "--summarize of a run stopped in notebook 02", interrupted_run, 1, "",
                  incomplete_report),
    ]

    # -- the sharded evaluation command (a 1-epoch smoke checkpoint; its folder gets a 1-epoch CNN once)
    def evaluate_cli(env, *argv, out=None):
        model = digits_checkpoint(env, 1)
        return cli(evaluate_command.main, ["--model", str(model), "--smoke", "--eps-255", "16",
                                           "--out", str(out or env.path("eval")), *argv])

    def held_evaluation(env):
        """A folder holding another evaluation (its settings and a finished block): a rerun must keep both."""
        folder = env.path("x").parent / "eval"
        (folder / "blocks").mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"examples": 999, "seed": 7}))
        (folder / "blocks" / "block-00000.json").write_text('{"format": "idc_lite-evaluation-block-1", "block": 0}')
        env.snapshot = {p: p.read_bytes() for p in (folder / "config.json", folder / "blocks" / "block-00000.json")}
        return evaluate_cli(env, "--examples", "4", out=folder)

    def stale_blocks(env):
        """A folder whose block was written by an earlier version (format -1: challengers judged on block 0 only)."""
        folder = env.path("x").parent / "eval"
        evaluate_cli(env, "--examples", "4", out=folder)
        block = folder / "blocks" / "block-00000.json"
        record = json.loads(block.read_text())
        assert record.pop("challenger_breaks"), "the block judged its challengers"
        block.write_text(json.dumps({**record, "format": "idc_lite-evaluation-block-1"}))
        (folder / "metrics" / "04_attack.json").unlink()
        env.snapshot = {block: block.read_bytes()}
        return evaluate_cli(env, "--examples", "4", out=folder)

    def foreign_folder(env):
        folder = env.path("notes.txt").parent
        (folder / "notes.txt").write_text("my notes")
        env.snapshot = {folder / "notes.txt": b"my notes"}
        return evaluate_cli(env, "--examples", "4", out=folder)

    out += [
        exit_case("idc-lite evaluate", "--examples -3", lambda env: evaluate_cli(env, "--examples", "-3"), 2,
                  "--examples must be between 1 and the test set's 359"),
        exit_case("idc-lite evaluate", "--examples beyond the test set",
                  lambda env: evaluate_cli(env, "--examples", "5000"), 2, "between 1 and the test set's 359"),
        exit_case("idc-lite evaluate", "--block-size 0", lambda env: evaluate_cli(env, "--block-size", "0"), 2,
                  "--block-size must be at least 1"),
        exit_case("idc-lite evaluate", "--steps 0", lambda env: evaluate_cli(env, "--steps", "0"), 2, "--steps must be at least 1"),
        exit_case("idc-lite evaluate", "--eps-255 300", lambda env: evaluate_cli(env, "--eps-255", "300"), 2,
                  "between 0 and 255"),
        exit_case("idc-lite evaluate", "--threads 0", lambda env: evaluate_cli(env, "--threads", "0"), 2, "--threads must be"),
        exit_case("idc-lite evaluate", "a missing model", lambda env: cli(evaluate_command.main, [
            "--model", str(env.path("none.pt")), "--out", str(env.path("eval"))]), 2, "no checkpoint at"),
        exit_case("idc-lite evaluate", "--out holding an evaluation with other settings", held_evaluation, 2,
                  "other settings.*blocks are kept", files_kept),
        exit_case("idc-lite evaluate", "--out a folder of other files", foreign_folder, 2, "not empty", files_kept),
        exit_case("idc-lite evaluate", "--out holding blocks of an earlier version of the kit", stale_blocks,
                  2, r"blocks \[0\] written by an earlier version.*kept.*new folder", files_kept),
    ]

    # -- files written atomically get the mode the umask gives, not mkstemp's 0600
    def write_under_umask(env):
        import os

        from idc_lite.foundation.files import atomic_write_json

        old = os.umask(0o022)
        try:
            return atomic_write_json({"a": 1}, env.path("record.json"))
        finally:
            os.umask(old)

    def mode_0644(env, path):
        assert (path.stat().st_mode & 0o777) == 0o644, oct(path.stat().st_mode & 0o777)

    out.append(Case("checkpoints.atomic_write_json", "umask 022 (mode 0644, not 0600)", write_under_umask, "ok",
                    check=mode_0644))

    # -- notebook parameters and run folders
    out += [
        Case("runs.check_parameters", "an unknown name",
             lambda env: parameters.check_parameters({"__annotations__": {"epochs": int}, "epochs": 3, "epoch": 4}, set()),
             "ParameterError", "unknown parameter"),
        Case("runs.check_parameters", "a string for an int",
             lambda env: parameters.check_parameters({"__annotations__": {"epochs": int}, "epochs": "ten"}, set()),
             "ParameterError", "epochs must be int"),
        Case("runs.check_parameters", "a bool for an int",
             lambda env: parameters.check_parameters({"__annotations__": {"epochs": int}, "epochs": True}, set()),
             "ParameterError", "epochs must be int"),
        Case("runs.check_parameters", "a string for a float",
             lambda env: parameters.check_parameters({"__annotations__": {"lr": float}, "lr": "1e-3"}, set()),
             "ParameterError", "lr must be float"),
        Case("runs.resolve_run_dir", "a run folder path that is a file",
             lambda env: folders.resolve_run_dir(str(env.file_with("run", b"x"))), "RunDirError", "is a file"),
        Case("reproduce.check_run_parameters", "a float for an int",
             lambda env: reproduce.check_run_parameters(reproduce.notebook_paths(), {"epochs": 2.5}), "ParameterError",
             "epochs must be int"),
    ]

    # -- a student's own folder of notebooks (make lab) and the model answers
    import idc_lite.cli.lab as lab_command
    from idc_lite.teaching import solution

    def lab_on_a_file(env):
        env.notes = env.file_with("mine", b"my notes")
        return cli(lab_command.main, ["--folder", str(env.notes), "--prepare-only"])

    def notes_kept(env, result):
        assert env.notes.read_bytes() == b"my notes"

    import idc_lite.cli.challenge as challenge_command

    def empty_folder(env):
        return cli(challenge_command.main, [str(env.path("x").parent), "--no-reference"])

    out += [
        exit_case("idc-lite challenge", "a folder without submissions", empty_folder, 2, "no submission in"),
        exit_case("idc-lite challenge", "--eps-255 0", lambda env: cli(challenge_command.main, [str(env.path("x").parent),
                                                                                              "--eps-255", "0"]),
                  2, "--eps-255 must be in"),
        exit_case("idc-lite lab", "--folder that is a file", lab_on_a_file, 2, "is a file, not a folder", notes_kept),
        Case("teaching.solution", "an exercise number without its notebook's two digits", lambda env: solution("2.3"),
             "InputError", "as the notebooks do"),
        Case("teaching.solution", "a notebook that does not exist", lambda env: solution("09.1"), "InputError",
             "no notebook 09"),
    ]
    return out


# ---- running a case ---------------------------------------------------------------------------------
def _error_type(name: str, legacy: bool):
    import importlib

    module, base = ERROR_TYPES[name]
    found = getattr(importlib.import_module(module), name, None)
    return found if found is not None and not legacy else base


def _raised_by_kit(err: BaseException) -> bool:
    """Whether the innermost frame that raised is the kit's own code (not torch's or numpy's)."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and "idc_lite" in frames[-1].filename.replace("\\", "/").split("/")


def run_case(case: Case, env: Env, legacy: bool = False) -> tuple[bool, str]:
    """(right, what happened) for one case."""
    Env.current = env
    env.snapshot = {}
    try:
        result = case.call(env)
    except Exception as err:  # noqa: BLE001 - the table classifies every error
        if case.expect in ("ok",) or case.expect.startswith("exit"):
            return False, f"raised {type(err).__name__}: {str(err)[:200]}"
        expected = _error_type(case.expect, legacy)
        if not isinstance(err, expected):
            return False, f"raised {type(err).__name__} (expected {case.expect}): {str(err)[:200]}"
        if legacy and not _raised_by_kit(err):
            return False, f"{type(err).__name__} from inside a library: {str(err)[:200]}"
        if not legacy and case.match and not re.search(case.match, str(err), re.S):
            return False, f"{case.expect} without /{case.match}/ in its message: {str(err)[:300]}"
        result = None
    else:
        if case.expect.startswith("exit"):
            code, stderr = result
            if code != int(case.expect.split()[1]):
                return False, f"exit {code} (expected {case.expect}): {stderr[-300:]}"
            if not legacy and case.match and not re.search(case.match, stderr, re.S):
                return False, f"exit {code} without /{case.match}/ in stderr: {stderr[-300:]}"
        elif case.expect != "ok":
            return False, f"no error (expected {case.expect})"
    if case.check is not None:
        try:
            case.check(env, result)
        except Exception as err:  # noqa: BLE001
            return False, f"check failed: {type(err).__name__}: {err}"
    return True, "as expected"


def main(argv: list[str] | None = None) -> int:
    import argparse
    from collections import defaultdict

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legacy", action="store_true", help="score an older package (see the module docstring)")
    parser.add_argument("--show-wrong", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    wrong = []
    with tempfile.TemporaryDirectory(prefix="idc-bad-inputs-") as folder:
        env = Env(Path(folder))
        for case in cases():
            right, detail = run_case(case, env, legacy=args.legacy)
            totals[case.entry][0] += right
            totals[case.entry][1] += 1
            if not right:
                wrong.append(f"{case.id}: {detail}")
    print("| entry point | cases | right |\n|---|---|---|")
    for entry, (right, total) in sorted(totals.items()):
        print(f"| {entry} | {total} | {right} |")
    n_right, n_total = sum(v[0] for v in totals.values()), sum(v[1] for v in totals.values())
    print(f"| **all** | {n_total} | {n_right} |")
    if args.show_wrong:
        print("\n".join(["", "wrong:", *wrong]))
    return 0 if n_right == n_total else 1


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
