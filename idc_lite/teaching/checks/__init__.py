"""One checker per graded exercise of the notebooks, one module per notebook.

Each checker takes the student's answer (a function or a value, under the name the exercise
asks for) plus whatever it needs from the notebook, recomputes the right answer with the
package's own implementation, and returns a one-line "passed" message, or raises
:class:`~idc_lite.foundation.errors.ExerciseCheckFailed` with a message that points at the likely mistake (a
sign, a missing square root, the wrong noise draw, a hard-coded value) without printing the answer.
The grading cells of the notebooks call these checkers (``from idc_lite.teaching.checks import ...``);
``tests/teaching/test_exercise_checks.py`` feeds every one the notebook's solution and several wrong answers.
"""
from idc_lite.teaching.checks.attack import (
    check_challenge_submission,
    check_eot_gradient,
    check_eot_pgd,
    check_first_step_logits,
    check_fixed_noise_attack,
    check_surrogate_attack,
)
from idc_lite.teaching.checks.baselines import check_adv_cnn_exercise, check_claim_verdict, check_protocol_gaps
from idc_lite.teaching.checks.defences import check_class_errors, check_diffuse_to_t_star
from idc_lite.teaching.checks.efficiency import check_cost_ratios, check_wide_unet_flops
from idc_lite.teaching.checks.label_images import check_global_minmax, check_label_image_distances
from idc_lite.teaching.checks.training import check_interclass_term, check_posterior_variance, check_q_sample, check_skip_noop
from idc_lite.teaching.checks.trajectories import check_deterministic_sampler, check_scoring_rules

__all__ = [
    "check_global_minmax", "check_label_image_distances",                                    # notebook 01
    "check_q_sample", "check_posterior_variance", "check_interclass_term", "check_skip_noop",  # 02
    "check_deterministic_sampler", "check_scoring_rules",                                     # 03
    "check_eot_gradient", "check_eot_pgd", "check_first_step_logits", "check_surrogate_attack",
    "check_fixed_noise_attack", "check_challenge_submission",                                 # 04
    "check_protocol_gaps", "check_adv_cnn_exercise", "check_claim_verdict",                   # 05
    "check_cost_ratios", "check_wide_unet_flops",                                             # 06
    "check_diffuse_to_t_star", "check_class_errors",                                          # 07
]
