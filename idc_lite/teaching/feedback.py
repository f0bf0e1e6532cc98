"""A student's feedback page: each graded cell's points and what its check said (the hint of a wrong answer,
the error of a cell that failed), read from the notebooks the grader ran.  One self-contained HTML file per
student (``feedback.html`` beside their ``grades.csv``), light enough to mail or to upload to a course site."""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Sequence

from idc_lite.foundation.files import atomic_write_bytes

FEEDBACK_FILE = "feedback.html"
ANSI = re.compile(r"\x1b\[[0-9;]*m")
MAX_HINT = 1200          # characters of a cell's output kept on the page (a long traceback says no more)

STYLE = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border:1px solid #ccc;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}td.full{color:#0a6b2c}td.none{color:#a00000}
pre{white-space:pre-wrap;margin:0;font-size:.85rem}"""


def cell_messages(notebook: Path) -> dict[str, str]:
    """``{grade_id: what the cell printed}`` for the graded cells of an executed notebook: its text output and,
    when it raised, the error's name and message (no traceback).  Empty when the notebook is missing."""
    if not Path(notebook).is_file():
        return {}
    messages = {}
    for cell in json.loads(Path(notebook).read_text()).get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if not grade_id or cell.get("cell_type") != "code":
            continue
        parts = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                parts.append("".join(output.get("text", "")))
            elif output.get("output_type") == "error":
                parts.append(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
            elif "text/plain" in output.get("data", {}):
                parts.append("".join(output["data"]["text/plain"]))
        text = ANSI.sub("", "\n".join(p.strip() for p in parts if p.strip()))
        messages[grade_id] = text if len(text) <= MAX_HINT else text[:MAX_HINT] + " ..."
    return messages


def feedback_html(student: str, rows: Sequence, graded: dict[str, Path]) -> str:
    """The page for ``rows`` (:class:`idc_lite.teaching.grading.GradeRow`); ``graded``: notebook -> the copy the
    grader executed, where the checks' messages are read."""
    messages = {name: cell_messages(path) for name, path in graded.items()}
    got = sum(float(r.points or 0) for r in rows if r.graded_by == "auto")
    most = sum(r.max_points for r in rows if r.graded_by == "auto")
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Feedback: {html.escape(student)}</title>",
             f"<style>{STYLE}</style></head><body><h1>Feedback for {html.escape(student)}</h1>",
             f"<p>Autograded points: <b>{got:g} / {most:g}</b>. Answers graded by hand show their points once a "
             "person has graded them.</p>"]
    for name in dict.fromkeys(r.notebook for r in rows):
        mine = [r for r in rows if r.notebook == name]
        parts.append(f"<h2>{html.escape(name)}</h2><table><tr><th>cell</th><th>points</th><th>status</th>"
                     "<th>what the check said</th></tr>")
        for r in mine:
            points = "to be graded" if r.points == "" else f"{float(r.points):g}"
            css = "" if r.points == "" else "full" if float(r.points) >= r.max_points else "none" if not float(r.points) else ""
            said = messages.get(name, {}).get(r.cell_id, "")
            parts.append(f"<tr><td>{html.escape(r.cell_id)}</td><td class='{css}'>{points} / {r.max_points:g}</td>"
                         f"<td>{html.escape(r.status)}</td><td><pre>{html.escape(said)}</pre></td></tr>")
        parts.append("</table>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_feedback(folder: Path, student: str, rows: Sequence, graded: dict[str, Path]) -> Path:
    """Write ``folder/feedback.html`` atomically; returns its path."""
    page = feedback_html(student, rows, graded)
    return atomic_write_bytes(Path(folder) / FEEDBACK_FILE, lambda handle: handle.write(page.encode()))
