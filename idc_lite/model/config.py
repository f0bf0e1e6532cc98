"""One configuration object for the whole classifier, with the authors' setting names."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from idc_lite.foundation.errors import InputError
from idc_lite.foundation.validation import check_choice, check_int, check_number
from idc_lite.model.unet import UNetConfig


@dataclass
class IDCConfig:
    """Everything that defines an IDC model (not how it is trained).

    Names follow the authors' YAML (``num_timesteps``, ``sample_step``, ``mt_type``, ``max_var``,
    ``eta``, ``objective``, ``loss_type``); ``cls_loss_weight`` is their hard-coded 0.2.
    ``skip_noop_steps`` fixes quirk Q1 (default False: official behaviour).
    ``tau`` is the temperature of the logits ``-distance / tau`` (the authors' attack wrapper uses 0.1).
    """
    num_classes: int = 10
    unet: UNetConfig = field(default_factory=UNetConfig)
    num_timesteps: int = 4
    sample_step: int = 4
    skip_sample: bool = True
    mt_type: str = "linear"
    max_var: float = 1.0
    eta: float = 1.0
    objective: str = "grad"
    loss_type: str = "l1"
    cls_loss_weight: float = 0.2
    skip_noop_steps: bool = False
    clip_denoised: bool = True
    tau: float = 0.1
    label_seed: int = 0

    def __post_init__(self):
        if not isinstance(self.unet, UNetConfig):
            raise InputError(f"IDCConfig.unet must be a UNetConfig (or a dict through from_dict), got {type(self.unet).__name__}")
        check_int(self.num_classes, "IDCConfig.num_classes", 2)
        check_int(self.num_timesteps, "IDCConfig.num_timesteps", 1)
        check_int(self.sample_step, "IDCConfig.sample_step", 1)
        check_int(self.label_seed, "IDCConfig.label_seed", 0)
        check_choice(self.mt_type, "IDCConfig.mt_type", ("linear", "sin"))
        check_choice(self.objective, "IDCConfig.objective", ("grad", "noise", "ysubx"))
        check_choice(self.loss_type, "IDCConfig.loss_type", ("l1", "l2"))
        check_number(self.max_var, "IDCConfig.max_var", 0.0, strict_minimum=True)
        check_number(self.eta, "IDCConfig.eta", 0.0)
        check_number(self.cls_loss_weight, "IDCConfig.cls_loss_weight", 0.0)
        check_number(self.tau, "IDCConfig.tau", 0.0, strict_minimum=True)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.unet.in_channels, self.unet.image_size, self.unet.image_size)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unet"] = self.unet.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "IDCConfig":
        if not isinstance(d, dict):
            raise InputError(f"an IDC configuration must be a dict, got {type(d).__name__}")
        d = dict(d)
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise InputError(f"unknown IDC config key(s) {sorted(unknown)}; known: {sorted(cls.__dataclass_fields__)}")
        unet = d.pop("unet", {})
        return cls(unet=unet if isinstance(unet, UNetConfig) else UNetConfig.from_dict(unet), **d)

    @classmethod
    def from_official(cls, official: dict) -> "IDCConfig":
        """From the official key names (as in the fixture's ``small_reference.json``: the
        ``model.BB.params`` fields, ``num_classes``, ``cls_loss_weight`` and ``unet`` = UNetParams)."""
        o = dict(official)
        if not o.get("to_normal", True):
            raise ValueError("to_normal=False is not supported: IDC maps images to [-1, 1]")
        if o.get("sample_type", "linear") != "linear":
            raise ValueError("only sample_type='linear' is supported (the IDC configs use it)")
        cls_weight = o.get("cls_loss_weight", 0.2 if o.get("cls_loss", True) else 0.0)
        return cls(num_classes=int(o["num_classes"]), unet=UNetConfig.from_dict(o["unet"]),
                   num_timesteps=int(o.get("num_timesteps", 4)), sample_step=int(o.get("sample_step", 4)),
                   skip_sample=bool(o.get("skip_sample", True)), mt_type=o.get("mt_type", "linear"),
                   max_var=float(o.get("max_var", 1.0)), eta=float(o.get("eta", 1.0)),
                   objective=o.get("objective", "grad"), loss_type=o.get("loss_type", "l1"),
                   cls_loss_weight=float(cls_weight))


