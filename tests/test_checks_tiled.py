"""The checker of chapter 13's tiled-attention exercise: the FlashAttention-2 loop, the
FlashAttention-1 loop and a merge of normalised blocks are all accepted; each plausible mistake is
rejected with its sentence, and so is any answer that holds a whole row of scores."""
import pytest
import torch

from utils.checks import check_tiled_attention


def flash2(query, key, value, is_causal=False, block_size=128):
    """Query blocks outside, key blocks inside, one division at the end."""
    L, S = query.shape[-2], key.shape[-2]
    outputs = []
    for q0 in range(0, L, block_size):
        q = query[..., q0:q0 + block_size, :] / query.shape[-1] ** 0.5
        m = q.new_full(q.shape[:-1] + (1,), float("-inf"))
        l = q.new_zeros(q.shape[:-1] + (1,))
        o = q.new_zeros(q.shape[:-1] + value.shape[-1:])
        for k0 in range(0, min(S, q0 + q.shape[-2]) if is_causal else S, block_size):
            s = q @ key[..., k0:k0 + block_size, :].transpose(-2, -1)
            if is_causal:
                rows = torch.arange(q0, q0 + s.shape[-2])[:, None]
                s = s.masked_fill(torch.arange(k0, k0 + s.shape[-1]) > rows, float("-inf"))
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            p, rescale = torch.exp(s - m_new), torch.exp(m - m_new)
            l = rescale * l + p.sum(-1, keepdim=True)
            o = rescale * o + p @ value[..., k0:k0 + block_size, :]
            m = m_new
        outputs.append(torch.nan_to_num(o / l))              # no keys: 0 / 0 -> 0
    return torch.cat(outputs, -2) if outputs else query.new_zeros(query.shape[:-1] +
                                                                 value.shape[-1:])


def flash1(query, key, value, is_causal=False, block_size=128):
    """Key blocks outside, query blocks inside; the stored outputs stay normalised and are
    rescaled at every step (FlashAttention-1's order)."""
    L, S, D = query.shape[-2], key.shape[-2], query.shape[-1]
    out = query.new_zeros(query.shape[:-1] + value.shape[-1:])
    m = query.new_full(query.shape[:-1] + (1,), float("-inf"))
    l = query.new_zeros(query.shape[:-1] + (1,))
    for k0 in range(0, S, block_size):
        k, v = key[..., k0:k0 + block_size, :], value[..., k0:k0 + block_size, :]
        for q0 in range(0, L, block_size):
            if is_causal and k0 > q0 + block_size - 1:
                continue                                       # every key in the future
            rows = slice(q0, q0 + block_size)
            s = query[..., rows, :] @ k.transpose(-2, -1) * D ** -0.5
            if is_causal:
                r = torch.arange(q0, q0 + s.shape[-2])[:, None]
                s = s.masked_fill(torch.arange(k0, k0 + s.shape[-1]) > r, float("-inf"))
            m_old, l_old = m[..., rows, :], l[..., rows, :]
            m_new = torch.maximum(m_old, s.amax(-1, keepdim=True))
            safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
            p = torch.exp(s - safe)
            l_new = torch.exp(m_old - safe) * l_old + p.sum(-1, keepdim=True)
            denom = torch.where(l_new > 0, l_new, torch.ones_like(l_new))
            out = out.clone()
            out[..., rows, :] = (torch.exp(m_old - safe) * l_old * out[..., rows, :]
                                 + p @ v) / denom
            m, l = m.clone(), l.clone()
            m[..., rows, :], l[..., rows, :] = m_new, l_new
    return out


def merged_blocks(query, key, value, is_causal=False, block_size=128):
    """Each key block's own softmax and logsumexp, merged by weights sigmoid-style."""
    L, S = query.shape[-2], key.shape[-2]
    outputs = []
    for q0 in range(0, L, block_size):
        q = query[..., q0:q0 + block_size, :] * query.shape[-1] ** -0.5
        o = q.new_zeros(q.shape[:-1] + value.shape[-1:])
        lse = q.new_full(q.shape[:-1] + (1,), float("-inf"))
        for k0 in range(0, S, block_size):
            s = q @ key[..., k0:k0 + block_size, :].transpose(-2, -1)
            if is_causal:
                rows = torch.arange(q0, q0 + s.shape[-2])[:, None]
                s = s.masked_fill(torch.arange(k0, k0 + s.shape[-1]) > rows, float("-inf"))
            block_lse = torch.logsumexp(s, -1, keepdim=True)
            block_o = torch.nan_to_num(torch.softmax(s, -1)) @ value[..., k0:k0 + block_size, :]
            new_lse = torch.logaddexp(lse, block_lse)
            safe = torch.where(torch.isinf(new_lse), torch.zeros_like(new_lse), new_lse)
            o = torch.exp(lse - safe) * o + torch.exp(block_lse - safe) * block_o
            lse = new_lse
        outputs.append(o)
    return torch.cat(outputs, -2) if outputs else query.new_zeros(query.shape[:-1] +
                                                                 value.shape[-1:])


@pytest.mark.parametrize("answer", [flash2, flash1, merged_blocks])
def test_tiled_check_accepts_three_correct_loops(answer):
    result = check_tiled_attention(answer)
    assert result, result


def wrong(kind):
    def tiled(query, key, value, is_causal=False, block_size=128):
        L, S = query.shape[-2], key.shape[-2]
        scale = 1.0 if kind == "no scale" else query.shape[-1] ** -0.5
        outputs = []
        for q0 in range(0, L, block_size):
            q = query[..., q0:q0 + block_size, :] * scale
            m = q.new_full(q.shape[:-1] + (1,), float("-inf"))
            l = q.new_zeros(q.shape[:-1] + (1,))
            o = q.new_zeros(q.shape[:-1] + value.shape[-1:])
            last = min(S, q0 + q.shape[-2]) if is_causal else S
            if kind.startswith("diagonal skipped") and is_causal:
                last = min(S, q0)
            for k0 in range(0, last, block_size):
                s = q @ key[..., k0:k0 + block_size, :].transpose(-2, -1)
                if is_causal and kind != "diagonal unmasked":
                    rows = torch.arange(q0, q0 + s.shape[-2])[:, None]
                    cols = torch.arange(k0, k0 + s.shape[-1])
                    s = s.masked_fill(cols >= rows if kind.startswith("diagonal hidden")
                                      else cols > rows,
                                      float("-inf"))
                if kind == "no max":
                    p, rescale, m_new = torch.exp(s), 1.0, m
                else:
                    m_new = torch.maximum(m, s.amax(-1, keepdim=True))
                    p, rescale = torch.exp(s - m_new), torch.exp(m - m_new)
                l = (1.0 if kind == "no sum rescale" else rescale) * l + p.sum(-1, keepdim=True)
                o = (1.0 if kind == "no output rescale" else rescale) * o + \
                    p @ value[..., k0:k0 + block_size, :]
                m = m_new
            outputs.append(o / l if kind in ("nan for no keys", "diagonal hidden, nan",
                                             "diagonal skipped, nan") else torch.nan_to_num(o / l))
        return torch.cat(outputs, -2) if outputs else query.new_zeros(query.shape[:-1] +
                                                                     value.shape[-1:])
    return tiled


TILED_WRONG = {
    "no output rescale": "the running output is not rescaled",
    "no sum rescale": "the running sum is not rescaled",
    "no scale": "the scores are not scaled",
    "diagonal unmasked": "inside the diagonal block the future keys are not masked",
    "diagonal hidden": "the mask hides each query's own key",
    "diagonal skipped": "the diagonal block is skipped",
    "no max": "overflow: exponentiate scores minus the running maximum",
    "nan for no keys": "with no keys at all",
    "diagonal hidden, nan": "the mask hides each query's own key",
    "diagonal skipped, nan": "the diagonal block is skipped",
}


@pytest.mark.parametrize("kind", TILED_WRONG)
def test_tiled_check_names_the_mistake(kind):
    result = check_tiled_attention(wrong(kind))
    assert not result and TILED_WRONG[kind] in result.message, result


def test_tiled_check_rejects_whole_rows_of_scores_a_full_mask_and_the_library():
    def row_blocks(query, key, value, is_causal=False, block_size=128):
        """Blocks of queries, but all keys at once: exact, and not tiled."""
        L, S = query.shape[-2], key.shape[-2]
        if S == 0:
            return query.new_zeros(query.shape[:-1] + value.shape[-1:])
        out = []
        for q0 in range(0, L, block_size):
            s = query[..., q0:q0 + block_size, :] @ key.transpose(-2, -1) / query.shape[-1] ** 0.5
            if is_causal:
                rows = torch.arange(q0, q0 + s.shape[-2])[:, None]
                s = s.masked_fill(torch.arange(S) > rows, float("-inf"))
            out.append(torch.softmax(s, -1) @ value)
        return torch.cat(out, -2)

    result = check_tiled_attention(row_blocks)
    assert not result and "as many entries as the scores of a whole row of keys" in \
        result.message, result

    def full_mask(query, key, value, is_causal=False, block_size=128):
        L, S = query.shape[-2], key.shape[-2]
        allowed = torch.ones(L, S, dtype=torch.bool).tril()             # (L, S), made once
        return flash2(query, key, value, is_causal, block_size) + 0 * allowed.sum()

    assert "or a full mask" in check_tiled_attention(full_mask).message

    from utils.attention import tiled_attention

    def library(query, key, value, is_causal=False, block_size=128):
        return tiled_attention(query, key, value, is_causal=is_causal, block_size=block_size)

    assert "calls `utils.attention.tiled.tiled_attention`" in \
        check_tiled_attention(library).message

    def stub(query, key, value, is_causal=False, block_size=128):
        raise NotImplementedError

    assert "not implemented yet" in check_tiled_attention(stub).message
