"""Attention without the L × S weight matrix: online softmax over key blocks (chapter 13).

FlashAttention's idea (Dao et al., 2022) in plain PyTorch. For a block of queries, walk over
the keys block by block and keep, per query, a running maximum m, a running sum of
exponentials l and a running weighted sum of values o. When a new block raises the maximum,
the old l and o are rescaled by exp(m_old - m_new):

    m' = max(m, rowmax(s)),   p = exp(s - m'),   l' = e^(m - m') l + rowsum(p),
    o' = e^(m - m') o + p V,  and at the end  output = o / l.

Only a (block_q × block_k) piece of the scores exists at any time, so memory grows like
L · block instead of L · S. Same result as softmax(QKᵀ/√E)V up to rounding; a query with no
allowed key gets a zero output, as ``scaled_dot_product_attention`` gives.
With ``window`` (chapter 14, sliding-window attention) each query sees only its last ``window``
positions, and key blocks wholly outside every query's window are skipped: the work and the
memory grow like L · (window + block), not L².
Shapes: query (..., L, E), key (..., S, E), value (..., S, Ev) -> (..., L, Ev).
"""
from __future__ import annotations

import torch

from ..validation import whole_number
from .scaled import check_qkv


def tiled_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                    is_causal: bool = False, block_size: int = 128,
                    window: int | None = None) -> torch.Tensor:
    """Scaled dot-product attention computed block by block, never storing all the scores."""
    check_qkv(query, key, value)
    whole_number("block_size", block_size)
    if window is not None:
        whole_number("window", window)
        if not is_causal:
            raise ValueError("a sliding window applies to causal attention: pass is_causal=True")
    L, S = query.shape[-2], key.shape[-2]
    if L == 0:  # no queries: an empty output of the right shape
        return query.new_zeros(query.shape[:-1] + value.shape[-1:])
    scale = query.shape[-1] ** -0.5
    outputs = []
    for q0 in range(0, L, block_size):
        q = query[..., q0:q0 + block_size, :] * scale                       # (..., bq, E)
        bq = q.shape[-2]
        m = q.new_full(q.shape[:-1] + (1,), float("-inf"))                  # running max
        l = q.new_zeros(q.shape[:-1] + (1,))                                # running sum
        o = q.new_zeros(q.shape[:-1] + (value.shape[-1],))                  # running output
        last_key = min(S, q0 + bq) if is_causal else S                      # causal: skip the future
        first_key = 0 if window is None else max(0, q0 - window + 1) // block_size * block_size
        for k0 in range(first_key, last_key, block_size):
            s = q @ key[..., k0:k0 + block_size, :].transpose(-2, -1)       # (..., bq, bk)
            diagonal = is_causal and k0 + s.shape[-1] > q0                  # the diagonal block
            edge = window is not None and k0 < q0 + bq - window             # the window's edge
            if diagonal or edge:
                rows = torch.arange(q0, q0 + bq, device=s.device).unsqueeze(1)
                cols = torch.arange(k0, k0 + s.shape[-1], device=s.device).unsqueeze(0)
                if diagonal:
                    s = s.masked_fill(cols > rows, float("-inf"))
                if edge:
                    s = s.masked_fill(cols <= rows - window, float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1, keepdim=True))
            safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
            p = torch.exp(s - safe)                                         # (..., bq, bk)
            rescale = torch.exp(m - safe)                                   # e^(m - m')
            l = rescale * l + p.sum(dim=-1, keepdim=True)
            o = rescale * o + p @ value[..., k0:k0 + block_size, :]
            m = m_new
        outputs.append(o / torch.where(l > 0, l, torch.ones_like(l)))
    return torch.cat(outputs, dim=-2)
