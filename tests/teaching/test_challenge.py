"""idc-lite challenge: each submission in a process of its own, scored by the kit with its own noise; a bad
submission gets a row that says why and never stops the others; a leaderboard in Markdown, HTML and JSON."""
import json
import subprocess
import sys

import pytest
import torch

from conftest import REPO
from idc_lite.foundation.errors import InputError
from idc_lite.teaching.challenge import check_images, find_submissions, held_back_examples

SUBMISSIONS = {
    "pgd.py": """
from idc_lite.evaluation.attacks import PGDSettings, pgd

def attack(model, images, labels, generator, params, start=None):
    eps = params["eps"]
    return pgd(model, images, labels, PGDSettings(eps=eps, alpha=eps / 4, steps=8, loss="margin"), generator)
""",
    "lazy/attack.py": "def returns_the_images(model, images, labels, generator, params, start=None):\n    return images\n",
    "syntax.py": "def attack(model, images:\n    return images\n",
    "shape.py": "def attack(model, images, labels, generator, params, start=None):\n    return images[:3]\n",
    "budget.py": "def attack(model, images, labels, generator, params, start=None):\n"
                 "    return (images + 2 * params['eps']).clamp(0, 1)\n",
    "raising.py": "def attack(model, images, labels, generator, params, start=None):\n    raise ValueError('no idea yet')\n",
    "slow.py": "import subprocess\nimport time\n\ndef attack(model, images, labels, generator, params, start=None):\n"
               "    print('thinking...' * 1000)\n    subprocess.Popen(['sleep', '10000'])\n    time.sleep(10_000)\n",
    "two.py": "def one(*a):\n    return a[1]\n\ndef other(*a):\n    return a[1]\n",
}


@pytest.mark.slow   # eight submissions, each in a process of its own
def test_a_class_challenge_ranks_the_attacks_and_says_why_the_others_have_no_score(tmp_path):
    for name, code in SUBMISSIONS.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(code)
    done = subprocess.run([sys.executable, "-m", "idc_lite", "challenge", str(tmp_path), "--examples", "16",
                           "--time-limit", "25", "--smoke"], capture_output=True, text=True, cwd=REPO, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    board = json.loads((tmp_path / "leaderboard.json").read_text())
    rows = {r["student"]: r for r in board["rows"]}
    assert board["eps"] == pytest.approx(48 / 255) and board["examples"] == 16
    status = {name: rows[name]["status"] for name in ("pgd", "lazy", "syntax", "shape", "budget", "raising", "slow", "two")}
    assert status["pgd"] == status["lazy"] == "scored"
    assert status["syntax"].startswith("raised SyntaxError")
    assert status["shape"] == "wrong shape: returned (3, 1, 16, 16), the images are (16, 1, 16, 16)"
    assert status["budget"].startswith("out of budget: a pixel moved 96.0/255, the budget is 48.0/255")
    assert status["raising"] == "raised ValueError: no idea yet (line 2)"
    assert status["slow"] == "ran past the time limit of 25 s and was stopped"
    assert "thinking..." in (tmp_path / ".challenge" / "slow.log").read_text()      # its output went to its log
    assert status["two"].startswith("raised InputError: define one function named attack (found ['one', 'other'])")
    clean = rows["(no attack: clean images)"]["accuracy"]
    assert rows["lazy"]["accuracy"] == clean          # the same images, scored with the same secret draws
    assert rows["pgd"]["accuracy"]["value"] < clean["value"] and rows["pgd"]["largest_change"] <= 48 / 255 + 1e-6
    kit = "the kit's adaptive suite, scored with its own draws (smoke sizes)"
    assert kit in rows and rows[kit]["accuracy"]["n"] == 16
    ranked = [r["student"] for r in board["rows"] if r["accuracy"]]
    assert ranked.index("pgd") < ranked.index("(no attack: clean images)")      # lower accuracy ranks first
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| 1 |" in markdown and "wrong shape" in markdown and "L-inf 48/255, 16 held-back test images" in markdown
    page = (tmp_path / "leaderboard.html").read_text()
    assert page.count("<tr>") == len(board["rows"]) + 1 and "out of budget" in page


def test_the_images_are_checked_by_the_scorer():
    x = torch.full((2, 1, 4, 4), 0.5)
    assert check_images(x + 0.1, x, 0.1)[0] == "" and check_images(x + 0.1, x, 0.1)[1] == pytest.approx(0.1)
    assert check_images(x[:1], x, 0.1)[0].startswith("wrong shape")
    assert check_images(x * float("nan"), x, 0.1)[0] == "returned NaN or infinite pixels"
    assert check_images(x + 0.6, x, 1.0)[0].startswith("out of range")
    assert check_images(x + 0.2, x, 0.1)[0].startswith("out of budget")


def test_submissions_are_found_in_files_or_folders_and_an_empty_folder_is_refused(tmp_path):
    (tmp_path / "ann.py").write_text("")
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "attack.py").write_text("")
    assert list(find_submissions(tmp_path)) == ["ann", "bob"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no submission in"):
        find_submissions(empty)
    with pytest.raises(InputError, match="examples must be between 1 and 259"):
        held_back_examples(0)
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "attack.py").write_text("")
    with pytest.raises(InputError, match="ann: both <student>.py and <student>/attack.py"):
        find_submissions(tmp_path)


def test_the_challenge_benchmark_writes_a_class_whose_bad_submissions_fail_the_way_their_names_say(tmp_path):
    """benchmarks/challenge.py's made-up class (the run itself is a benchmark): every file is found, the two attacks
    and "unchanged" load as one function each, and each bad one fails as named, without running any attack."""
    import importlib.util

    from idc_lite.teaching.challenge import _attack_function, check_images

    spec = importlib.util.spec_from_file_location("challenge_benchmark", REPO / "benchmarks" / "challenge.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    benchmark.write_class(tmp_path / "class")
    found = find_submissions(tmp_path / "class")
    assert set(found) == {"model_answer", *benchmark.MADE_UP}
    attacks = {name: _attack_function(found[name]) for name in found if name != "syntax_error"}
    with pytest.raises(SyntaxError):
        _attack_function(found["syntax_error"])
    x, labels = held_back_examples(4)
    eps = 48 / 255
    assert torch.equal(attacks["unchanged"](None, x, labels, None, {"eps": eps}), x)
    assert check_images(attacks["wrong_shape"](None, x, labels, None, {"eps": eps}), x, eps)[0].startswith("wrong shape")
    assert check_images(attacks["out_of_budget"](None, x, labels, None, {"eps": eps}), x, eps)[0].startswith("out of budget")
    with pytest.raises(RuntimeError, match="not finished"):
        attacks["raises"](None, x, labels, None, {"eps": eps})
    assert "time.sleep" in found["too_slow"].read_text()
