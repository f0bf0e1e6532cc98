"""The blocks rendered from the benchmarks' records: what each says, and what it says when a part is missing."""
import json

from idc_lite.results.benchmark_blocks import lab_course


def _lab_course_record(students: int, shared: bool) -> dict:
    kinds = ["solved", "untouched"] * ((students - 2) // 2)
    per_student = {f"{kind}-{i}": {"points": 33.0 if kind == "solved" else 0.0, "seconds": 400.0 if i < 2 else 90.0,
                                   "statuses": []} for i, kind in enumerate(kinds)}
    per_student["hangs"] = {"points": 5.0, "seconds": 73.0, "statuses": ["timed out: cell 1", "not submitted"]}
    per_student["broken"] = {"points": 0.0, "seconds": 0.3, "statuses": ["grading failed: not a readable notebook"]}
    return {"commit": "c" * 40, "created": "2026-12-06T00:00:00", "machine": {"matmul_gflops_float32_2048": 190.0},
            "one_student_seconds": 180.0, "one_student_points": 33.0, "one_student_max_points": 33.0,
            "class": {"students": students, "workers": 2, "wall_seconds": 60.0 * students, "timeout": 60,
                      "shared_work": shared, "per_student": per_student}}


def test_the_lab_course_block_says_whether_the_class_of_30_was_measured_and_groups_the_students():
    small = lab_course({"lab_course": _lab_course_record(6, shared=False)})
    assert "A class of 6 made-up students" in small and "nothing shared" in small
    # graded: 400, 400, 90 and 90 s of a worker, a mean of 245 s; 30 of them on 2 workers: 61 min
    assert "a graded student took 4.1 min of a worker on average, so a class of 30 would take about 61 min" in small
    assert "| 2 solved | 33 | 90 to 400 s | graded |" in small and "| 1 broken | 0 | 0 s | grading failed" in small
    large = lab_course({"lab_course": _lab_course_record(30, shared=True)})
    assert "A class of 30 made-up students" in large and "heavy calls shared" in large and "30.0 min in all (measured)" in large
    assert "| 14 untouched | 0 | 90 to 400 s | graded |" in large and "not measured" not in large


def test_the_lab_course_block_shows_each_class_run_and_the_full_points_beside_the_lab_ones():
    record = _lab_course_record(30, shared=True)
    two = record.pop("class")
    for student in two["per_student"].values():
        student["by_notebook"] = {"01_label_images": student["points"], "04_attack": 0.0}
    one = json.loads(json.dumps(two)) | {"workers": 1, "wall_seconds": 2400.0}
    full = {name: json.loads(json.dumps(two["per_student"][name])) | {"seconds": 1800.0}
            for name in ("solved-0", "untouched-1")}
    full["untouched-1"]["by_notebook"]["04_attack"] = 2.0      # a point that full settings give and lab sizes do not
    full["untouched-1"]["points"] = 2.0
    record |= {"classes": [two, one], "full_points": {"wall_seconds": 3600.0, "per_student": full}}
    block = lab_course({"lab_course": record})
    assert "`--workers 2`" in block and "`--workers 1`" in block and "40.0 min in all (measured)" in block
    assert "| solved-0 | all | 33 | 33 | none | 30 min |" in block
    assert "| untouched-1 | all | 0 | 2 | 04_attack | 30 min |" in block
    assert "60 min in all" in block
    assert "measured again" not in block
    again = {"commit": "d" * 40, "created": "2026-12-07T00:00:00", "machine": {}}
    record |= {"notebooks": {"04_attack": 40.0}, "full_reference": {}, "notebooks_measured": again,
               "one_student_measured": again}
    block = lab_course({"lab_course": record})
    assert "run alone (the parts measured again say so)." in block
    assert block.count("(measured again at commit `dddddddddd`, 2026-12-07") == 2
    assert "in one fresh run folder (measured again at" in block and "33 of 33 autograded points (measured again at" in block
    assert "the reference run's" not in block
    record["full_reference_measured"] = {"commit": "e" * 40, "created": "2026-12-05T00:00:00",
                                         "machine": {"matmul_gflops_float32_2048": 196.0, "native_bf16": True}}
    assert "The full settings' times are the reference run's, at commit `eeeeeeeeee`, 2026-12-05, ? with ? cores " \
           "measuring 196.0 GFLOP/s (float32 matmul), native bfloat16." in lab_course({"lab_course": record})
    one["measured"] = again                          # an update graded the class again with one worker
    record["full_points"]["lab_per_student"] = {"untouched-1": two["per_student"]["untouched-1"] | {"points": 2.0,
                                                "by_notebook": {"01_label_images": 0.0, "04_attack": 2.0}}}
    block = lab_course({"lab_course": record})
    assert "`--workers 1` (per-cell timeout 60 s, heavy calls shared): 40.0 min in all (measured) (measured again at " \
           "commit `dddddddddd`" in block
    assert "| untouched-1 | all | 2 | 2 | none | 30 min |" in block       # beside the lab points recorded with the full run
    del record["one_student_seconds"]                # saved half way: no grading of one student yet
    assert "Grading one student" not in lab_course({"lab_course": record})


def test_the_challenge_block_ranks_the_scored_rows_and_says_why_the_others_have_none():
    from idc_lite.results.benchmark_blocks import challenge

    assert "No run of `benchmarks/challenge.py`" in challenge({})
    interval = {"value": 0.25, "low": 0.125, "high": 0.375, "n": 64}
    rows = [{"student": "strong", "status": "scored", "accuracy": interval, "seconds": 61.4, "largest_change": 48 / 255},
            {"student": "the kit's adaptive suite", "status": "reference", "accuracy": interval | {"value": 0.5},
             "seconds": 300.0, "largest_change": None},
            {"student": "weak", "status": "scored", "accuracy": interval | {"value": 0.75}, "seconds": 5.0,
             "largest_change": 47 / 255},
            {"student": "slow", "status": "ran past the time limit of 300 s and was stopped", "accuracy": None,
             "seconds": 300.2, "largest_change": None}]
    record = {"commit": "c" * 40, "created": "2026-12-06T00:00:00", "machine": {}, "time_limit": 300.0,
              "wall_seconds": 900.0, "eps": 48 / 255, "examples": 64, "scoring_draws": 5, "rows": rows}
    block = challenge({"challenge": record})
    assert "L-inf 48/255, 64 held-back test images" in block and "on 3 made-up submissions: 15.0 min in all" in block
    assert "| 1 | strong | 25.0 % [12.5, 37.5] (n = 64) | 48.0 | 61 | scored |" in block
    assert "| – | the kit's adaptive suite |" in block and "| 2 | weak |" in block
    assert "| – | slow | – | – | 300 | ran past the time limit of 300 s and was stopped |" in block
