"""Every checker accepts the solution, rejects the stub and rejects plausible wrong answers."""
import torch

from utils.checks import CheckResult, check_last_valid_state, check_token_accuracy
from utils.specials import PAD


def stub(*args):
    raise NotImplementedError("Exercise: write this function")


# ---- last_valid_state ---------------------------------------------------------------
def last_state(outputs, lengths):
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, index).squeeze(1)


def test_last_state_accepts_solutions():
    assert check_last_valid_state(last_state)
    assert check_last_valid_state(lambda o, n: o[torch.arange(o.shape[0]), n - 1])


def test_last_state_rejects_stub_and_wrong_answers():
    cases = {
        stub: "not implemented yet",
        (lambda o, n: o[:, -1]): "last position, which is padding",
        (lambda o, n: o[:, 0]): "first position",
        (lambda o, n: o[torch.arange(o.shape[0]), n.clamp(max=o.shape[1] - 1)]): "off by one",
        (lambda o, n: o.mean(1)): "wrong values",
        (lambda o, n: o[:, -1:]): "returned shape (4, 1, 5) but expected (4, 5)",
        (lambda o, n: None): "returned None",
        (lambda o, n: o[:, -1].tolist()): "returned a list",
        (lambda o, n: o[:, -1] * float("nan")): "NaN",
    }
    for fn, message in cases.items():
        result = check_last_valid_state(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


# ---- token_accuracy -------------------------------------------------------------------
def accuracy(pred, target):
    mask = target != PAD
    return ((pred == target) & mask).sum().item() / mask.sum().item()


def test_token_accuracy_accepts_solutions():
    assert check_token_accuracy(accuracy)
    assert check_token_accuracy(lambda p, t: (p == t)[t != PAD].float().mean())  # 0-dim tensor


def test_token_accuracy_rejects_stub_and_wrong_answers():
    mask = lambda t: t != PAD  # noqa: E731
    cases = {
        stub: "not implemented yet",
        (lambda p, t: (p == t).float().mean().item()): "padding positions were counted",
        (lambda p, t: ((p == t) & mask(t)).sum().item()): "not their count",
        (lambda p, t: ((p == t) & mask(t)).sum().item() / t.numel()): "divided by all positions",
        (lambda p, t: ((p == t) & mask(t)).float().mean(1)): "expected one number",
        (lambda p, t: "0.5"): "expected a float",
        (lambda p, t: None): "returned None",
        (lambda p, t: 1 / 0): "raised ZeroDivisionError",
    }
    for fn, message in cases.items():
        result = check_token_accuracy(fn)
        assert not result, message
        assert message in result.message, (message, result.message)


def test_result_reads_as_one_sentence():
    good, bad = CheckResult(True, "fine."), CheckResult(False, "wrong shape")
    assert repr(good) == "✓ fine." and repr(bad) == "✗ wrong shape"
    assert "\n" not in check_token_accuracy(stub).message
    assert not check_token_accuracy("not a function")
