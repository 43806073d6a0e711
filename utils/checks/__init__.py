"""Checkers for the implement-exercises.

Each ``check_*`` function calls the reader's function on several cases (edge cases included),
compares with the book's tested implementation, and returns a ``CheckResult``: true or false,
shown in the notebook as one sentence that says what is right or wrong. Checks test the shape
first, then the values, and name the likely mistake when they can.
"""
from .attention import (check_additive_scores, check_alignment_hits, check_dot_product_attention,
                        check_location_weights, check_local_p_weights, check_masked_softmax)
from .bert import check_mask_tokens, check_max_pool, check_wordpiece
from .core import CheckResult
from .decoding import check_beam_search
from .efficient import check_combine_partials, check_online_softmax_update, check_tiled_attention
from .layers import check_decoder_layer, check_encoder_layer
from .llama import check_llama_block
from .gpt import check_cached_gpt, check_causal_lm_loss
from .generation import check_cache_write, check_top_k_logits
from .modern import check_repeat_kv, check_rotary, check_window_mask
from .multihead import check_head_outputs, check_torch_mha
from .recurrent import check_last_valid_state, check_token_accuracy
from .sampling import check_gumbel_max, check_leave_one_out_baseline, check_reinforce_k_loss
from .scaling import check_attention_entropy, check_softmax_jacobian
from .selfattention import check_causal_mask, check_scaled_attention, check_sinusoidal_positions
from .vision import check_unpatchify, check_vit

__all__ = ["CheckResult", "check_additive_scores", "check_alignment_hits",
           "check_attention_entropy", "check_beam_search", "check_cache_write", "check_cached_gpt",
           "check_causal_lm_loss", "check_causal_mask", "check_combine_partials",
           "check_decoder_layer", "check_dot_product_attention", "check_encoder_layer",
           "check_gumbel_max", "check_head_outputs", "check_last_valid_state",
           "check_leave_one_out_baseline", "check_llama_block", "check_local_p_weights",
           "check_location_weights", "check_mask_tokens", "check_masked_softmax", "check_max_pool",
           "check_online_softmax_update", "check_reinforce_k_loss", "check_repeat_kv",
           "check_rotary", "check_scaled_attention", "check_sinusoidal_positions",
           "check_softmax_jacobian", "check_tiled_attention", "check_token_accuracy",
           "check_top_k_logits", "check_torch_mha", "check_unpatchify", "check_vit",
           "check_window_mask", "check_wordpiece"]
