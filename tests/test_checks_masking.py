"""The checker of chapter 11's masking exercise: BERT's exactly-k choice written three ways is
accepted; each plausible mistake is rejected with its sentence."""
import pytest
import torch

from utils.checks import check_mask_tokens


def by_sorting(ids, special, mask_id, vocab_size, generator, rate=0.15):
    """Random keys, special positions last, the k smallest chosen."""
    n = (~special).sum(1, keepdim=True)
    k = torch.where(n > 0, (rate * n).round().clamp(min=1), 0)
    keys = torch.rand(ids.shape, generator=generator).masked_fill(special, 2.0)
    chosen = keys.argsort(1).argsort(1) < k
    action = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(chosen & (action < 0.8), mask_id)
    random = chosen & (action >= 0.8) & (action < 0.9)
    inputs[random] = torch.randint(vocab_size, (int(random.sum()),), generator=generator)
    return inputs, ids.masked_fill(~chosen, -100)


def by_rows(ids, special, mask_id, vocab_size, generator, rate=0.15):
    """A loop over rows: randperm of the candidates, then a decision per chosen token."""
    inputs, labels = ids.clone(), torch.full_like(ids, -100)
    for b in range(ids.shape[0]):
        candidates = (~special[b]).nonzero().flatten()
        if len(candidates) == 0:
            continue
        k = max(1, round(rate * len(candidates)))
        for t in candidates[torch.randperm(len(candidates), generator=generator)[:k]].tolist():
            labels[b, t] = ids[b, t]
            u = torch.rand((), generator=generator).item()
            if u < 0.8:
                inputs[b, t] = mask_id
            elif u < 0.9:
                inputs[b, t] = torch.randint(vocab_size, (), generator=generator)
    return inputs, labels


def by_topk(ids, special, mask_id, vocab_size, generator, rate=0.15):
    """topk of random scores (specials at -inf), then where() for the three outcomes."""
    scores = torch.rand(ids.shape, generator=generator).masked_fill(special, float("-inf"))
    n = (~special).sum(1)
    k = torch.where(n > 0, torch.clamp(torch.round(n * rate), min=1), torch.zeros_like(n * rate))
    order = scores.topk(ids.shape[1], dim=1).indices
    chosen = torch.zeros_like(special).scatter(1, order, torch.arange(ids.shape[1]).expand_as(
        ids) < k[:, None])
    u = torch.rand(ids.shape, generator=generator)
    replacement = torch.randint(vocab_size, ids.shape, generator=generator)
    inputs = torch.where(chosen & (u < 0.8), torch.full_like(ids, mask_id),
                         torch.where(chosen & (u < 0.9), replacement, ids))
    return inputs, torch.where(chosen, ids, torch.full_like(ids, -100))


@pytest.mark.parametrize("answer", [by_sorting, by_rows, by_topk])
def test_masking_check_accepts_three_correct_answers(answer):
    result = check_mask_tokens(answer)
    assert result, result


def wrong(kind):
    def mask_tokens(ids, special, mask_id, vocab_size, generator, rate=0.15):
        n = (~special).sum(1, keepdim=True)
        if kind == "fixed rate":
            rate = 0.15
        if kind == "floor":
            k = (rate * n).floor()
        elif kind == "counts specials":
            k = torch.where(n > 0, (rate * (n + 2)).round().clamp(min=1), 0)
        else:
            k = torch.where(n > 0, (rate * n).round().clamp(min=1), 0)
        keys = torch.rand(ids.shape, generator=None if kind == "global rng" else generator)
        if kind == "first":
            keys = torch.arange(ids.shape[1]).float().expand(ids.shape)
        if kind != "specials":
            keys = keys.masked_fill(special, float("inf"))
        chosen = keys.argsort(1).argsort(1) < k
        if kind == "bernoulli":
            chosen = (torch.rand(ids.shape, generator=generator) < rate) & ~special
        action = torch.rand(ids.shape, generator=generator)
        inputs = ids if kind == "in place" else ids.clone()
        inputs.masked_fill_(chosen & (action < 0.8), mask_id)
        high = 0.82 if kind == "2 % random" else 1.0 if kind == "no unchanged" else 0.9
        random = chosen & (action >= 0.8) & (action < high)
        inputs[random] = torch.randint(vocab_size, (int(random.sum()),), generator=generator)
        if kind == "labels 0":
            return inputs, ids.masked_fill(~chosen, 0)
        if kind == "labels are inputs":
            return inputs, inputs.masked_fill(~chosen, -100)
        return inputs, ids.masked_fill(~chosen, -100)
    return mask_tokens


MASKING_WRONG = {
    "floor": "round rate · n to the nearest integer, not down",
    "fixed rate": "use the `rate` argument, not 0.15",
    "counts specials": "n counts only the candidates, not [CLS], [SEP] or padding",
    "bernoulli": "choose exactly k positions in each row",
    "first": "always the first candidates of each row",
    "specials": "is a special token or padding",
    "global rng": "draw every random number from `generator`",
    "in place": "changed ids in place",
    "2 % random": "expected 80 %, 10 % and 10 %",
    "no unchanged": "expected 80 %, 10 % and 10 %",
    "labels 0": "labels must be -100 wherever no prediction is asked",
    "labels are inputs": "must be the original ids",
}


@pytest.mark.parametrize("kind", MASKING_WRONG)
def test_masking_check_names_the_mistake(kind):
    result = check_mask_tokens(wrong(kind))
    assert not result and MASKING_WRONG[kind] in result.message, result


def test_masking_check_rejects_the_stub():
    def mask_tokens(ids, special, mask_id, vocab_size, generator, rate=0.15):
        raise NotImplementedError

    assert "not implemented yet" in check_mask_tokens(mask_tokens).message
