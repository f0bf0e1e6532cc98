"""The course around the notebooks: exercise checkers, interactive explorers, assignments and grading.

- ``checks/``: one checker per graded exercise, one module per notebook;
- ``explorers``: the widgets' figures (a figure at the defaults when nobody is looking);
- ``course``: the notebooks as nbgrader assignments and their student copies; ``grading``: one student's
  notebooks autograded; ``class_grading``: a folder of student folders, each student a task; ``feedback``:
  a student's page of points and what each check said;
- ``workspace``: a student's own copies of the notebooks, and ``solution("02.3")``, one exercise's model answer;
- ``challenge``: the class's attack functions scored against the shipped IDC model, and a leaderboard.

It imports comparisons, defences, evaluation, figures, data, the model and the foundation; ``runs`` is beside it.
nbgrader is imported only when a course is made or graded.
"""
from idc_lite.teaching.challenge import write_submission
from idc_lite.teaching.explorers import (
    ATTACKS,
    Choice,
    Slider,
    Toggle,
    attack_figure,
    explore,
    first_reliable_example,
    label_images_figure,
    noise_figure,
    trajectory_figure,
)
from idc_lite.teaching.workspace import prepare_workspace, solution

__all__ = ["ATTACKS", "Choice", "Slider", "Toggle", "attack_figure", "explore", "first_reliable_example",
           "label_images_figure", "noise_figure", "prepare_workspace", "solution", "trajectory_figure", "write_submission"]
