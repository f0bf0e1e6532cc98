"""A student's own working copies of the notebooks, and one exercise's model answer on request.

``prepare_workspace(folder)`` puts the student copies (nbgrader's release: solutions removed, hidden tests
left out) into ``folder`` once.  A copy already there is the student's and is never written again: when the
instructor's source has changed since, the new release goes beside it, in ``folder/new_release/``, under a
name that carries the release's hash, and the report says so.  The release is generated again only when the
source notebooks change (``folder/.course/`` keeps it).

``solution("02.3")`` returns exercise 02.3's model answer from the instructor's source: the code between
nbgrader's solution markers and the written answers, on purpose and one exercise at a time.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from idc_lite.foundation.errors import AssignmentError, InputError
from idc_lite.foundation.files import atomic_write_bytes, atomic_write_json, read_notebook
from idc_lite.teaching.course import generate, source_notebooks

WORKSPACE = "my_notebooks"          # the default folder, at the top of the checkout (git-ignored)
NEW_RELEASES = "new_release"
STATE_FILE = ".release.json"        # {"sources": hash of the sources, "copied": {notebook: hash of the release}}
COURSE_CACHE = ".course"
_EXERCISE = re.compile(r"^(\d\d)\.(\d+)$")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class WorkspaceReport:
    """What ``prepare_workspace`` did: notebooks copied in, the student's copies kept, newer releases beside them."""
    folder: Path
    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    new_releases: dict[str, Path] = field(default_factory=dict)   # notebook -> the newer release beside its copy

    def message(self) -> str:
        lines = [f"your notebooks: {self.folder}"]
        if self.copied:
            lines.append(f"  copied in (student copies, no solutions): {', '.join(self.copied)}")
        if self.kept:
            lines.append(f"  kept as you left them: {', '.join(self.kept)}")
        for name, path in self.new_releases.items():
            lines.append(f"  {name}: the course has a newer version, put beside yours as "
                         f"{path.relative_to(self.folder)} (your copy is unchanged; move your answers over if you want it)")
        return "\n".join(lines)


def _content_hash(data: bytes) -> str:
    """A release's identity: its cells' types, sources and nbgrader metadata (saving a notebook changes its
    outputs and metadata, not what the student is asked); a file that is not a notebook hashes as bytes."""
    try:
        cells = json.loads(data)["cells"]
        key = [[c.get("cell_type"), "".join(c.get("source", "")), c.get("metadata", {}).get("nbgrader")] for c in cells]
    except (ValueError, TypeError, KeyError, AttributeError):
        return _sha256(data)
    return _sha256(json.dumps(key, sort_keys=True).encode())


def _release(folder: Path, sources: list[Path]) -> tuple[str, dict[str, Path]]:
    """The student copies of ``sources`` (generated again only when a source changed): (sources hash, name -> file)."""
    digest = _sha256(b"".join(p.name.encode() + _content_hash(p.read_bytes()).encode() for p in sources))
    course = folder / COURSE_CACHE
    marker = course / "sources.sha256"
    released = {p.stem: course / "release" / p.stem / p.name for p in sources}
    if not (marker.is_file() and marker.read_text() == digest and all(p.is_file() for p in released.values())):
        if course.exists():
            shutil.rmtree(course)
        generate(course, sources)
        marker.write_text(digest)
    return digest, released


def _read_state(path: Path) -> dict[str, str]:
    """{notebook: content hash of the release the student's copy started from}; a damaged record is moved aside
    (``.release.json.damaged``) and read as empty: the copies stay untouched, only "newer release" hints are lost."""
    if not path.is_file():
        return {}
    try:
        copied = json.loads(path.read_text()).get("copied", {})
        if isinstance(copied, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in copied.items()):
            return dict(copied)
    except (ValueError, AttributeError):
        pass
    path.replace(path.with_name(path.name + ".damaged"))
    return {}


def prepare_workspace(folder: Path, sources: list[Path] | None = None) -> WorkspaceReport:
    """Student copies of ``sources`` (default: the kit's notebooks) in ``folder``, never overwriting one there.

    A copy counts as the current release's once its content (cells and nbgrader metadata) equals it, so a student
    who moved a newer release over their copy is not told again."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder for your notebooks: give another folder")
    folder.mkdir(parents=True, exist_ok=True)
    sources = sources or source_notebooks()
    digest, released = _release(folder, sources)
    state_path = folder / STATE_FILE
    copied = _read_state(state_path)
    report = WorkspaceReport(folder)
    for source in sources:
        name, data = source.stem, released[source.stem].read_bytes()
        release_hash, target = _content_hash(data), folder / source.name
        if not target.exists():
            atomic_write_bytes(target, lambda handle, data=data: handle.write(data))
            copied[name] = release_hash
            report.copied.append(name)
            continue
        report.kept.append(name)
        if _content_hash(target.read_bytes()) == release_hash:
            copied[name] = release_hash          # the student's copy is this release (or they moved it over)
        elif copied.setdefault(name, release_hash) != release_hash:
            beside = folder / NEW_RELEASES / f"{name}.{release_hash[:8]}.ipynb"
            if not beside.exists():
                atomic_write_bytes(beside, lambda handle, data=data: handle.write(data))
            report.new_releases[name] = beside
    atomic_write_json({"sources": digest, "copied": copied}, state_path)
    return report


@dataclass(frozen=True)
class ModelAnswer:
    """One exercise's model answer: its code cells (solution part only) and its written answers."""
    exercise: str
    code: list[str]
    written: list[str]

    def __str__(self) -> str:
        parts = [f"# model answer of exercise {self.exercise}"] + self.code
        parts += [f'"""{text}"""' for text in self.written]
        return "\n\n".join(parts)

    def _repr_markdown_(self) -> str:
        blocks = [f"**Model answer of exercise {self.exercise}** (from the instructor's notebook)"]
        blocks += [f"```python\n{code}\n```" for code in self.code]
        blocks += [f"> {text}".replace("\n", "\n> ") for text in self.written]
        return "\n\n".join(blocks)


def _solution_lines(source: str) -> str:
    """A solution cell without nbgrader's ``### BEGIN SOLUTION`` / ``### END SOLUTION`` marker lines."""
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return "\n".join(line for line in source.splitlines() if line.strip() not in markers).strip()


def solution(exercise: str, notebooks: list[Path] | None = None) -> ModelAnswer:
    """Exercise ``exercise`` ("02.3")'s model answer, from the instructor's source notebook."""
    match = _EXERCISE.match(str(exercise).strip())
    if not match:
        raise InputError(f"exercise {exercise!r}: write it as the notebooks do, e.g. \"02.3\"")
    number, part = match.groups()
    sources = [p for p in (notebooks or source_notebooks()) if p.name.startswith(f"{number}_")]
    if not sources:
        raise InputError(f"exercise {exercise}: there is no notebook {number}")
    prefix = f"ex{number}_{part}_"
    code, written = [], []
    for cell in read_notebook(sources[0]).cells:
        meta = cell.metadata.get("nbgrader", {})
        if not (meta.get("solution") and str(meta.get("grade_id", "")).startswith(prefix)):
            continue
        if cell.cell_type == "code":
            code.append(_solution_lines(cell.source))
        elif "**Answer.**" in cell.source:     # a question graded by hand: its answer, after the question
            written.append("**Answer.**" + cell.source.split("**Answer.**", 1)[1].rstrip())
    if not code and not written:
        raise AssignmentError(f"exercise {exercise}: {sources[0].name} has no exercise of that number")
    if not written and all("raise NotImplementedError()" in c for c in code):
        raise AssignmentError(f"exercise {exercise}: {sources[0].parent} holds student copies, not the instructor's "
                              "notebooks, so there is no model answer here")
    return ModelAnswer(str(exercise).strip(), code, written)
