"""A notebook's sizes and the model a lab run starts from.

Three sizes: *full* (the settings the results pages report), *lab* (a lab hour: the shipped models, fewer
evaluated examples and a shorter attack suite, each notebook in about a minute on a 2-core laptop) and *smoke*
(tiny sizes that only prove the code path).  Smoke wins over lab.  Lab and smoke runs label every figure and
table they show, so that none passes for a full one.
"""
from __future__ import annotations

from pathlib import Path

from idc_lite.data import load_dataset
from idc_lite.figures import set_figure_note
from idc_lite.foundation.runtime import is_lab, is_smoke
from idc_lite.runs.folders import MODEL_FILE, require
from idc_lite.shipped import shipped_with_settings
from idc_lite.training import configure_training
from idc_lite.training.load_or_train import trainer_from_shipped, training_settings

LAB_NOTE = "lab settings: fewer examples and a shorter suite, for learning, not for reporting (lab=False: full settings)"
SMOKE_NOTE = "smoke settings: tiny sizes that only prove the code path; these numbers mean nothing"


def run_sizes(smoke: bool, lab: bool) -> tuple[bool, bool]:
    """``(smoke, lab)`` for a notebook's two switches (``IDC_LITE_SMOKE`` and ``IDC_LITE_LAB`` included, see
    :func:`idc_lite.foundation.runtime.is_lab`); lab is off in a smoke run.  Sets the note every figure carries."""
    smoke = is_smoke(smoke)
    lab = is_lab(lab) and not smoke
    set_figure_note(SMOKE_NOTE if smoke else LAB_NOTE if lab else "")
    return smoke, lab


def size_name(smoke: bool, lab: bool) -> str:
    """``"smoke"``, ``"lab"`` or ``"full"``: what a notebook prints of its sizes."""
    return "smoke" if smoke else "lab" if lab else "full"


def model_for(run: Path, lab: bool, made_by: str = "02_train_classifier.ipynb") -> Path:
    """``run/model.pt``.  When it is missing: in a lab run, the IDC model shipped with the kit for the digits
    default is written there first (what notebook 02 takes at its defaults), so a student may open any notebook
    first; otherwise, and where shipped models are switched off, an error names the notebook that makes it."""
    path = Path(run) / MODEL_FILE
    if path.exists() or not lab:
        return require(path, made_by)
    setup, _ = configure_training("digits")
    data = load_dataset(setup.dataset, image_size=setup.model.unet.image_size)
    name = shipped_with_settings("idc", training_settings(setup.model, setup.train, data))
    if name is None:
        return require(path, made_by)
    _, note = trainer_from_shipped(name, path, setup.model, setup.train, data)
    print(note.replace(MODEL_FILE + ":", f"{MODEL_FILE} (lab run, none in the run folder):", 1))
    return path
