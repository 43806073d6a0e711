"""Training loop, metrics and plots."""
import random

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from utils.data.pair import Pair  # noqa: E402
from utils.data.vocab import EOS, PAD, Vocab, endless_batches  # noqa: E402
from utils.metrics import (accuracy_by_source_position, accuracy_by_target_position,  # noqa: E402
                           cut_after_eos, evaluate, evaluate_by_bucket, format_table,
                           teacher_forced_accuracy, token_accuracy)
from utils.models.rnn import FixedContextSeq2Seq, Seq2SeqConfig  # noqa: E402
from utils.plots import alignment_matrix, plot_attention, plot_by_length, plot_history  # noqa: E402
from utils.train import TrainConfig, fit, progress_enabled, sequence_loss  # noqa: E402


def copy_pairs(n=200, seed=0):
    rng = random.Random(seed)
    words = ["a", "b", "c", "d", "e"]
    out = []
    for _ in range(n):
        src = tuple(rng.choice(words) for _ in range(rng.randint(3, 5)))
        out.append(Pair(src, tuple(w.upper() for w in src), tuple((i, i) for i in range(len(src)))))
    return out


class Oracle(torch.nn.Module):
    """Predicts the reference perfectly: logits peak at the true next token."""

    def __init__(self, vocab_size):
        super().__init__()
        self.vocab_size = vocab_size
        self.answers = None

    def forward(self, src, src_lengths, tgt_in):     # the book's protocol: (logits, weights)
        return torch.nn.functional.one_hot(self.answers, self.vocab_size).float() * 10, None

    def greedy(self, src, src_lengths, max_len):
        pad = torch.full((self.answers.shape[0], max_len - self.answers.shape[1]), PAD)
        return torch.cat([self.answers, pad], dim=1), None


def test_token_accuracy_ignores_padding():
    pred = torch.tensor([[5, 6, 9, 9]])
    target = torch.tensor([[5, 7, PAD, PAD]])
    assert token_accuracy(pred, target) == 0.5
    with pytest.raises(ValueError, match="shape"):
        token_accuracy(pred, target[:, :2])


def test_cut_after_eos():
    tokens = torch.tensor([[5, EOS, 6, EOS], [5, 6, 7, 8]])
    assert cut_after_eos(tokens).tolist() == [[5, EOS, PAD, PAD], [5, 6, 7, 8]]


def test_evaluate_with_a_perfect_model():
    pairs = copy_pairs(20)
    sv, tv = Vocab(p.src for p in pairs), Vocab(p.tgt for p in pairs)
    oracle = Oracle(len(tv))
    from utils.data.vocab import make_batch
    oracle.answers = make_batch(pairs, sv, tv).tgt_out
    result = evaluate(oracle, pairs, sv, tv, batch_size=len(pairs))
    assert result["tf_acc"] == result["greedy_acc"] == result["exact"] == 1.0
    assert result["bleu"] == pytest.approx(100.0)


def test_fit_learns_to_copy_and_evaluation_agrees():
    torch.manual_seed(0)
    pairs = copy_pairs(300)
    sv, tv = Vocab(p.src for p in pairs), Vocab(p.tgt for p in pairs)
    model = FixedContextSeq2Seq(Seq2SeqConfig(len(sv), len(tv), 16, 32))
    history = fit(model, endless_batches(pairs, 32, sv, tv), TrainConfig(steps=300, lr=1e-2,
                                                                         log_every=100))
    assert history.steps == [100, 200, 300] and history.seconds > 0
    assert history.loss[-1] < 0.5 * history.loss[0]
    rows = evaluate_by_bucket(model, [pairs[:50], pairs[50:100]], [(3, 4), (5, 5)], sv, tv)
    assert [r["bucket"] for r in rows] == ["3–4", "5–5"]
    assert rows[0]["greedy_acc"] > 0.8
    assert teacher_forced_accuracy(model, pairs[:50], sv, tv) == pytest.approx(
        evaluate(model, pairs[:50], sv, tv)["tf_acc"])
    by_src = accuracy_by_source_position(model, pairs[:50], sv, tv, n_bins=2)
    by_tgt = accuracy_by_target_position(model, pairs[:50], sv, tv, n_bins=2)
    assert len(by_src) == 2 and set(by_tgt) == {"tf", "greedy"}
    assert all(0 <= a <= 1 for a in by_src + by_tgt["tf"] + by_tgt["greedy"])
    with pytest.raises(ValueError, match="groups"):
        evaluate_by_bucket(model, [pairs], [(3, 4), (5, 5)], sv, tv)


def test_sequence_loss_ignores_padding():
    logits = torch.randn(1, 3, 6)
    target = torch.tensor([[2, 4, PAD]])
    expected = torch.nn.functional.cross_entropy(logits[0, :2], target[0, :2])
    assert torch.allclose(sequence_loss(logits, target), expected)
    with pytest.raises(ValueError, match="disagree"):
        sequence_loss(logits, target[:, :2])


def test_progress_bars_follow_the_environment(monkeypatch):
    monkeypatch.setenv("ATTENTION_BOOK_QUIET", "1")
    assert not progress_enabled()
    monkeypatch.setenv("ATTENTION_BOOK_QUIET", "0")
    assert progress_enabled()


def test_format_table():
    text = format_table([{"bucket": "3–7", "acc": 0.5}], {"bucket": ("length", "{}"),
                                                          "acc": ("acc", "{:.0%}")})
    assert text.splitlines() == ["length  acc", "------  ---", "   3–7  50%"]


def test_plots():
    pair = Pair(("he", "is", "playing", "football"), ("er", "spielt", "fußball"),
                ((0, 0), (1, 1), (2, 1), (3, 2)))
    matrix = alignment_matrix(pair)
    assert matrix.shape == (3, 4) and matrix.sum() == 4 and matrix[1, 2] == 1
    ax = plot_attention(matrix, pair.src, pair.tgt)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(pair.src)
    with pytest.raises(ValueError, match="3 target and 4 source"):
        plot_attention(matrix.T, pair.src, pair.tgt)
    rows = [{"mid": 5, "bucket": "3–7", "greedy_acc": 0.5}]
    assert plot_by_length({"m": rows}).get_ylabel().startswith("token accuracy")
    from utils.train import History
    assert plot_history({"m": History([1, 2], [2.0, 1.0])}).get_xlabel().startswith("training")
    matplotlib.pyplot.close("all")


def test_learning_rate_warms_up_then_decays():
    from utils.train import learning_rate_factor

    assert [learning_rate_factor(s, 100, 4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate_factor(0, 100) == 1.0 and abs(learning_rate_factor(99, 100) - 0.109) < 1e-9
    assert learning_rate_factor(50, 100, 4) == learning_rate_factor(50, 100)


def test_fit_calls_the_evaluation_callback_and_keeps_its_time_out_of_the_clock():
    import time as _time

    from utils.train import TrainConfig, fit

    calls = []

    def slow_evaluation(model):
        assert not model.training and not torch.is_grad_enabled()
        _time.sleep(0.05)
        calls.append(1)
        return len(calls)

    pairs = copy_pairs(40)
    sv, tv = Vocab(p.src for p in pairs), Vocab(p.tgt for p in pairs)
    model = FixedContextSeq2Seq(Seq2SeqConfig(len(sv), len(tv), 8, 8))
    batches = endless_batches(pairs, 8, sv, tv)
    history = fit(model, batches, TrainConfig(steps=5, lr=1e-3, log_every=1),
                  evaluate=slow_evaluation, evaluate_every=2)
    assert [s for s, _ in history.evaluations] == [0, 2, 4, 5]
    assert [r for _, r in history.evaluations] == [1, 2, 3, 4]
    assert history.seconds < 0.2  # four sleeps of 0.05 s are not training time
    with pytest.raises(ValueError, match="evaluate_every"):
        fit(model, batches, TrainConfig(steps=1), evaluate=slow_evaluation, evaluate_every=0)


def _tiny_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Dropout(0.2),
                               torch.nn.Linear(16, 3))


def test_train_model_takes_exactly_the_steps_of_the_loop_written_out():
    """The same batches, dropout masks, clipping and schedule as the loop of chapter 2: the
    parameters agree bit for bit, so moving a chapter onto train_model moves no number."""
    from utils.train import adamw_one_cycle, train_model

    def batches(seed):
        gen = torch.Generator().manual_seed(seed)
        while True:
            yield torch.randn(8, 6, generator=gen), torch.randint(3, (8,), generator=gen)

    hand = _tiny_model()
    optimizer, schedule = adamw_one_cycle(hand.parameters(), 1e-2, 20)
    data, valid = batches(1), torch.randn(5, 6)
    torch.manual_seed(3)
    evaluations = []
    for step in range(1, 21):
        hand.train()
        x, y = next(data)
        loss = torch.nn.functional.cross_entropy(hand(x), y)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(hand.parameters(), 0.5)
        optimizer.step()
        schedule.step()
        if step % 5 == 0:
            hand.eval()
            with torch.no_grad():
                evaluations.append(hand(valid).sum().item())

    model = _tiny_model()
    optimizer, schedule = adamw_one_cycle(model.parameters(), 1e-2, 20)
    data = batches(1)
    torch.manual_seed(3)

    def step_loss():
        x, y = next(data)
        return torch.nn.functional.cross_entropy(model(x), y)

    history = train_model(model, step_loss, 20, optimizer, schedule, clip=0.5, evaluate_every=5,
                          evaluate=lambda m: m(valid).sum().item(), log_every=10)
    for a, b in zip(hand.parameters(), model.parameters()):
        assert torch.equal(a, b)
    assert history.evaluated() == evaluations and [s for s, _ in history.evaluations] == [5, 10,
                                                                                          15, 20]
    assert history.steps == [10, 20] and len(history.loss) == 2 and not model.training


def test_the_optimiser_recipes_follow_their_schedules():
    from utils.train import adam_linear_decay, adamw_one_cycle, learning_rate_factor

    model = _tiny_model()
    optimizer, schedule = adamw_one_cycle(model.parameters(), 3e-3, 100, weight_decay=0.05)
    rates = []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["weight_decay"] == 0.05
    assert rates[0] == pytest.approx(3e-3 / 25) and max(rates) == pytest.approx(3e-3)
    assert rates.index(max(rates)) == 9 and rates[-1] < 1e-6  # peak after 10 %, then to ~0
    optimizer, schedule = adam_linear_decay(model.parameters(), 1e-2, 50, warmup=5)
    for step in range(50):
        assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * learning_rate_factor(
            step, 50, 5))
        optimizer.step()
        schedule.step()
    assert type(optimizer) is torch.optim.Adam


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=0), "steps must be a whole number >= 1"),
    (dict(steps=2.5), "steps must be a whole number >= 1"),
    (dict(evaluate_every=0), "evaluate_every must be"),
    (dict(log_every=-1), "log_every must be"),
    (dict(clip=0.0), "clip must be a finite number > 0"),
])
def test_train_model_names_a_bad_argument(kwargs, message):
    from utils.train import train_model

    model = _tiny_model()
    arguments = dict(steps=3) | kwargs
    with pytest.raises(ValueError, match=message):
        train_model(model, lambda: model(torch.randn(2, 6)).sum(), arguments.pop("steps"),
                    torch.optim.SGD(model.parameters(), lr=0.1), **arguments)


def test_train_model_wants_a_scalar_loss():
    from utils.train import train_model

    model = _tiny_model()
    with pytest.raises(ValueError, match=r"scalar tensor, got Tensor \(2, 3\)"):
        train_model(model, lambda: model(torch.randn(2, 6)), 1,
                    torch.optim.SGD(model.parameters(), lr=0.1))
