"""Cluttered-digit canvases and the soft/hard attention estimators of chapter 5."""
import pytest
import torch
import torch.nn.functional as F

from utils.data.glimpse import Canvases, load_digits_split, make_canvases
from utils.models.glimpse import (GlimpseNet, exact_hard_loss, glimpse_loss, gumbel_max,
                                  gumbel_softmax_st, leave_one_out_baseline,
                                  reinforce_surrogate, straight_through)


@pytest.fixture(scope="module")
def digits():
    return load_digits_split()


def test_split_is_disjoint_and_scaled(digits):
    train, test = digits
    assert len(train.labels) + len(test.labels) == 1797 and len(test.labels) == 500
    assert train.images.min() == 0 and train.images.max() == 1
    # no image of the test split appears in the train split
    flat_train = {tuple(x.flatten().tolist()) for x in train.images}
    shared = sum(tuple(x.flatten().tolist()) in flat_train for x in test.images)
    assert shared < 5  # the dataset holds a few exact duplicates; a leak would give hundreds


def test_canvas_holds_the_digit_at_its_position_and_clutter_elsewhere(digits):
    train, _ = digits
    c = make_canvases(train, 50, grid=3, pieces=2, generator=torch.Generator().manual_seed(0))
    assert c.cells.shape == (50, 9, 8, 8) and len(c) == 50
    for n in range(50):
        digit = c.cells[n, c.position[n]]
        matches = (train.images == digit).flatten(1).all(1)
        assert matches.any() and (train.labels[matches] == c.labels[n]).all()
        others = [p for p in range(9) if p != c.position[n]]
        # a clutter cell is made of at most two 4×4 pieces: at most 32 lit pixels
        assert ((c.cells[n, others] > 0).flatten(1).sum(1) <= 32).all()


def test_images_put_cells_in_reading_order(digits):
    cells = torch.arange(4 * 64, dtype=torch.float32).view(1, 4, 8, 8)
    c = Canvases(cells, torch.tensor([0]), torch.tensor([0]), grid=2)
    image = c.images()[0]
    assert torch.equal(image[:8, :8], cells[0, 0]) and torch.equal(image[:8, 8:], cells[0, 1])
    assert torch.equal(image[8:, :8], cells[0, 2]) and torch.equal(image[8:, 8:], cells[0, 3])


def test_canvases_are_deterministic_for_a_seed(digits):
    train, _ = digits
    a = make_canvases(train, 20, generator=torch.Generator().manual_seed(3))
    b = make_canvases(train, 20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.cells, b.cells) and torch.equal(a.position, b.position)
    with pytest.raises(ValueError, match="grid"):
        make_canvases(train, 5, grid=1)


def test_gumbel_max_samples_follow_the_softmax():
    logits = torch.tensor([1.0, 0.0, -1.0, 2.0])
    u = torch.rand(200_000, 4, generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(gumbel_max(logits.expand(200_000, 4), u), minlength=4) / 200_000
    assert torch.allclose(freq, torch.softmax(logits, 0), atol=0.005)


def test_straight_through_is_one_hot_forward_and_soft_backward():
    torch.manual_seed(0)
    logits = torch.randn(3, 5, requires_grad=True)
    soft = torch.softmax(logits, -1)
    hard = straight_through(soft)
    # one-hot up to rounding: hard + soft - soft is not always bit-exact
    assert torch.allclose(hard, F.one_hot(soft.argmax(-1), 5).float(), rtol=0, atol=1e-6)
    upstream = torch.randn(3, 5)
    (g_st,) = torch.autograd.grad((hard * upstream).sum(), logits)
    (g_soft,) = torch.autograd.grad((torch.softmax(logits, -1) * upstream).sum(), logits)
    assert torch.allclose(g_st, g_soft)


def test_gumbel_softmax_st_is_the_argmax_of_logits_plus_gumbel_noise():
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    ours = gumbel_softmax_st(logits, tau=0.5)
    torch.manual_seed(1)
    noise = torch.rand(logits.shape).clamp(1e-10, 1 - 1e-7)
    expected = F.one_hot((logits - torch.log(-torch.log(noise))).argmax(-1), 6).float()
    assert torch.allclose(ours, expected, rtol=0, atol=1e-6)


def test_reinforce_is_unbiased_and_the_baseline_keeps_it_so():
    """The mean REINFORCE gradient equals the exact gradient of E_p[reward(p)], enumerated."""
    logits = torch.tensor([0.5, -0.3, 1.2, 0.0], requires_grad=True)
    reward = torch.tensor([1.0, -2.0, 0.5, 3.0])
    (exact,) = torch.autograd.grad(-(torch.softmax(logits, 0) * reward).sum(), logits)
    gen = torch.Generator().manual_seed(0)
    for baseline in (0.0, 0.8):
        choice = torch.multinomial(torch.softmax(logits, 0).detach(), 400_000, True, generator=gen)
        log_prob = torch.log_softmax(logits, 0)[choice]
        (estimate,) = torch.autograd.grad(reinforce_surrogate(log_prob, reward[choice], baseline),
                                          logits)
        assert torch.allclose(estimate, exact, atol=0.02), (baseline, estimate, exact)


def test_reinforce_surrogate_blocks_gradients_into_the_reward():
    log_prob = torch.tensor([-1.0, -2.0], requires_grad=True)
    reward = torch.tensor([0.5, 1.5], requires_grad=True)
    reinforce_surrogate(log_prob, reward, 1.0).backward()
    assert reward.grad is None or torch.equal(reward.grad, torch.zeros(2))
    assert torch.allclose(log_prob.grad, torch.tensor([0.25, -0.25]))


def test_leave_one_out_baseline():
    rewards = torch.tensor([[1.0, 2.0, 6.0]])
    assert torch.allclose(leave_one_out_baseline(rewards), torch.tensor([[4.0, 3.5, 1.5]]))
    with pytest.raises(ValueError):
        leave_one_out_baseline(torch.ones(2, 1))


def test_hard_read_of_one_cell_equals_soft_read_with_one_hot_weights():
    torch.manual_seed(0)
    net = GlimpseNet(hidden=16, locator_hidden=8)
    cells = torch.rand(3, 4, 8, 8)
    where = torch.tensor([2, 0, 3])
    assert torch.allclose(net.read(cells, where), net.read(cells, F.one_hot(where, 4).float()),
                          atol=1e-6)


def test_reinforce_loss_estimates_the_exact_hard_gradient():
    """Averaged over many samples, the REINFORCE training loss has the gradient of the exact
    expected loss (computed by reading every cell), for the locator and the classifier."""
    torch.manual_seed(0)
    net = GlimpseNet(hidden=8, locator_hidden=4)
    cells, labels = torch.rand(2, 3, 8, 8), torch.tensor([1, 7])
    params = list(net.parameters())
    exact = torch.autograd.grad(exact_hard_loss(net, cells, labels), params)
    gen = torch.Generator().manual_seed(1)
    reps = 6000
    big_cells, big_labels = cells.repeat(reps, 1, 1, 1), labels.repeat(reps)
    loss, _ = glimpse_loss(net, big_cells, big_labels, "reinforce", baseline=-2.3, generator=gen)
    estimate = torch.autograd.grad(loss, params)
    for e, x in zip(estimate, exact):
        assert torch.allclose(e, x, atol=0.02 * x.abs().max() + 1e-3)


def test_glimpse_loss_methods(digits):
    train, _ = digits
    c = make_canvases(train, 8, grid=3, generator=torch.Generator().manual_seed(0))
    net = GlimpseNet(hidden=16, locator_hidden=8)
    soft, _ = glimpse_loss(net, c.cells, c.labels, "soft")
    with torch.no_grad():
        alpha = torch.softmax(net.scores(c.cells), -1)
        expected = F.cross_entropy(net.read(c.cells, alpha), c.labels)
    assert torch.allclose(soft, expected)
    for method in ("reinforce", "reinforce-no-baseline", "gumbel"):
        loss, reward = glimpse_loss(net, c.cells, c.labels, method,
                                    generator=torch.Generator().manual_seed(0))
        assert loss.requires_grad and reward.shape == (8,) and not reward.requires_grad
        loss.backward()
        assert all(p.grad is not None for p in net.locator.parameters()), method
        net.zero_grad()
    with pytest.raises(ValueError, match="unknown method"):
        glimpse_loss(net, c.cells, c.labels, "hardest")
