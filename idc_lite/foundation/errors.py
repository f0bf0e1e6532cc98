"""Every error type the kit raises on purpose, in one module.

All derive from :class:`KitError` and from the built-in type a caller would catch:

* :class:`InputError` (``ValueError``): a tensor, number or option given to a function;
  :class:`ParameterError` a notebook or command-line parameter, :class:`DataError` a dataset,
  :class:`GridError` a sweep grid.
* :class:`CheckpointError` (``RuntimeError``): a file that cannot be trusted
  (:class:`StaleRecordError`) or would be overwritten (:class:`OverwriteRefusedError`).
* File and folder errors (``FileNotFoundError`` and kin): :class:`DataNotFoundError`,
  :class:`MissingArtifactError`, :class:`RunDirError`.
* :class:`SettingsMismatchError`: a file made with other settings than the ones asked for.
* :class:`TrainingDivergedError`: the loss became NaN or infinite.
* :class:`MalformedReferenceError`, :class:`RunFolderError`, :class:`AssignmentError`,
  :class:`ExerciseCheckFailed` (``AssertionError``: a student's answer is wrong).
"""


class KitError(Exception):
    """Base of the errors idc_lite raises on purpose."""


class InputError(KitError, ValueError):
    """A value given to the kit that it cannot use, with the reason in the message."""


class ParameterError(InputError):
    """A notebook or command-line parameter of the wrong name, type or range."""


class DataError(InputError):
    """A dataset whose files or tensors cannot be used (corrupt, empty, out of range)."""


class TrainingDivergedError(KitError, RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class CheckpointError(KitError, RuntimeError):
    """A checkpoint that cannot be used: missing, corrupt, or made for another configuration."""


class StaleRecordError(CheckpointError):
    """A checkpoint's JSON record that does not describe the ``.pt`` beside it (a crash between the
    two writes, or a record copied from another run)."""


class OverwriteRefusedError(CheckpointError):
    """Writing would replace a checkpoint that holds more training (or is not a kit checkpoint)."""


class MissingArtifactError(KitError, FileNotFoundError):
    """Something an earlier notebook writes is not there yet."""


class RunDirError(KitError, NotADirectoryError):
    """A run folder path that is not a folder."""


class SettingsMismatchError(KitError, RuntimeError):
    """A file in the run folder was made with other settings than the ones a notebook asks for."""


class DataNotFoundError(KitError, FileNotFoundError):
    """A dataset that is not on disk (and was not allowed, or not able, to download)."""


class MalformedReferenceError(KitError, ValueError):
    """A reference file of the fixture that cannot be read, or lacks a key."""


class RunFolderError(KitError, ValueError):
    """A run folder that cannot be summarised (not a run, or a corrupt summary.json)."""


class GridError(InputError):
    """A grid file that cannot be run: unreadable, unknown keys, notebooks or parameters, wrong types."""


class AssignmentError(KitError, RuntimeError):
    """nbgrader refused a notebook, or the submissions cannot be graded; the message says why."""


class ExerciseCheckFailed(KitError, AssertionError):
    """A wrong or missing answer; the message says what to look at."""


class NoFingerprint(KitError, TypeError):
    """An argument of a shareable call whose content cannot be named (a student's function, a foreign object):
    the call runs as usual and is not shared; never raised beyond :mod:`idc_lite.foundation.shared_work`."""
