"""Checkers for the implement-exercises.

Each ``check_*`` function calls the reader's function on several cases (edge cases included),
compares with the book's tested implementation, and returns a ``CheckResult``: true or false,
shown in the notebook as one sentence that says what is right or wrong. Checks test the shape
first, then the values, and name the likely mistake when they can.
"""
from .attention import (check_additive_scores, check_alignment_hits, check_dot_product_attention,
                        check_general_scores, check_local_p_weights, check_masked_softmax)
from .bert import check_mean_pool, check_wordpiece
from .core import CheckResult
from .decoding import check_beam_search
from .efficient import check_online_softmax_update
from .generation import check_cached_causal_mask, check_top_k_logits
from .recurrent import check_last_valid_state, check_token_accuracy
from .sampling import check_gumbel_max, check_leave_one_out_baseline
from .scaling import check_attention_entropy, check_softmax_jacobian
from .vision import check_patchify
from .selfattention import (check_causal_mask, check_merge_heads, check_sinusoidal_positions,
                            check_split_heads)

__all__ = ["CheckResult", "check_additive_scores", "check_alignment_hits", "check_attention_entropy",
           "check_beam_search", "check_cached_causal_mask", "check_causal_mask",
           "check_dot_product_attention", "check_general_scores", "check_gumbel_max",
           "check_last_valid_state", "check_leave_one_out_baseline", "check_merge_heads",
           "check_local_p_weights", "check_masked_softmax", "check_mean_pool", "check_online_softmax_update",
           "check_patchify",
           "check_sinusoidal_positions",
           "check_softmax_jacobian",
           "check_split_heads", "check_token_accuracy", "check_top_k_logits",
           "check_wordpiece"]
