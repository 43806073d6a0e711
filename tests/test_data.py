"""Splits, vocabularies, batching, the TSV corpus loader and the toy tasks."""
from collections import Counter

import pytest
import torch

from utils.data.corpus import load_tsv_pairs, tokenize
from utils.data.splits import MiniGermanConfig, make_splits
from utils.data.toy import make_toy_task
from utils.data.vocab import BOS, EOS, PAD, UNK, Vocab, endless_batches, iterate_batches, make_batch

SMALL = MiniGermanConfig(min_len=3, max_len=22, bucket_width=5, n_train=400,
                         valid_per_bucket=3, test_per_bucket=5, seed=1)


@pytest.fixture(scope="module")
def splits():
    return make_splits(SMALL)


def test_buckets_cover_the_length_range():
    assert SMALL.buckets == [(3, 7), (8, 12), (13, 17), (18, 22)]
    assert MiniGermanConfig().buckets[-1] == (38, 42)
    assert SMALL.bucket_of(3) == 0 and SMALL.bucket_of(22) == 3
    with pytest.raises(ValueError, match="outside"):
        SMALL.bucket_of(23)


def test_train_lengths_are_spread_evenly(splits):
    counts = Counter(len(p) for p in splits.train)
    assert set(counts) == set(range(3, 23))
    assert set(counts.values()) == {400 // 20}


def test_held_out_sets_have_equal_buckets_and_no_training_sentence(splits):
    assert [len(g) for g in splits.by_bucket(splits.test)] == [5, 5, 5, 5]
    assert [len(g) for g in splits.by_bucket(splits.valid)] == [3, 3, 3, 3]
    train = {p.src for p in splits.train}
    held_out = [p.src for p in splits.valid + splits.test]
    assert not train & set(held_out)
    assert len(held_out) == len(set(held_out))


def test_splits_are_deterministic(splits):
    assert make_splits(SMALL) == splits
    assert make_splits(MiniGermanConfig(**{**SMALL.__dict__, "seed": 2})).train != splits.train


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="min_len"):
        MiniGermanConfig(min_len=2)
    with pytest.raises(ValueError, match="max_len"):
        MiniGermanConfig(min_len=10, max_len=5)


def test_vocab_round_trip():
    vocab = Vocab([["er", "spielt"], ["sie", "spielt"]])
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    ids = vocab.encode(["er", "spielt", "schach"], bos=True, eos=True)
    assert ids[0] == BOS and ids[-1] == EOS and ids[3] == UNK
    assert vocab.decode(ids) == ["er", "spielt", "<unk>"]
    assert vocab.decode(torch.tensor([vocab.stoi["er"], EOS, vocab.stoi["sie"]])) == ["er"]


def test_batch_shapes_and_padding(splits):
    src_vocab = Vocab(p.src for p in splits.train)
    tgt_vocab = Vocab(p.tgt for p in splits.train)
    pairs = splits.train[:5]
    batch = make_batch(pairs, src_vocab, tgt_vocab)
    longest = max(len(p.src) for p in pairs)
    assert batch.src.shape == (5, longest)
    assert batch.src_lengths.tolist() == [len(p.src) for p in pairs]
    assert (batch.tgt_in[:, 0] == BOS).all()
    for row, p in enumerate(pairs):
        n = len(p.tgt)
        assert batch.tgt_out[row, n] == EOS
        assert (batch.tgt_out[row, n + 1:] == PAD).all()
        assert tgt_vocab.decode(batch.tgt_out[row]) == list(p.tgt)
        assert batch.src_key_padding_mask[row].sum() == longest - len(p.src)
    with pytest.raises(ValueError, match="at least one pair"):
        make_batch([], src_vocab, tgt_vocab)


def test_endless_batches_cover_each_epoch_once_and_are_deterministic(splits):
    src_vocab = Vocab(p.src for p in splits.train)
    tgt_vocab = Vocab(p.tgt for p in splits.train)
    stream = endless_batches(splits.train, 32, src_vocab, tgt_vocab, seed=3, pool=4)
    n_batches = -(-len(splits.train) // 32)
    epoch = [next(stream) for _ in range(n_batches)]
    seen = Counter(p.src for b in epoch for p in b.pairs)
    assert sum(seen.values()) == len(splits.train)
    again = endless_batches(splits.train, 32, src_vocab, tgt_vocab, seed=3, pool=4)
    assert [b.pairs for b in epoch] == [next(again).pairs for _ in range(n_batches)]
    # sorting within pools: a batch holds sentences of similar length
    spread = sum(max(map(len, b.pairs)) - min(map(len, b.pairs)) for b in epoch) / n_batches
    assert spread < 8


def test_iterate_batches_in_order(splits):
    src_vocab = Vocab(p.src for p in splits.train)
    tgt_vocab = Vocab(p.tgt for p in splits.train)
    batches = list(iterate_batches(splits.test, 7, src_vocab, tgt_vocab))
    assert [p for b in batches for p in b.pairs] == splits.test
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(splits.test, 0, src_vocab, tgt_vocab))


def test_tsv_loader_reads_the_anki_format(tmp_path):
    path = tmp_path / "deu.txt"
    path.write_text("Hi.\tHallo!\tCC-BY 2.0 (France) Attribution: tatoeba.org\n"
                    "\n"
                    "I'm tired, Tom.\tIch bin müde, Tom.\tCC-BY\n"
                    "He plays football every day.\tEr spielt jeden Tag Fußball.\n",
                    encoding="utf-8")
    pairs = load_tsv_pairs(path)
    assert [p.src for p in pairs] == [("hi", "."), ("i", "'", "m", "tired", ",", "tom", "."),
                                      ("he", "plays", "football", "every", "day", ".")]
    assert pairs[1].tgt == ("ich", "bin", "müde", ",", "tom", ".")
    assert pairs[2].tgt[-2] == "fußball" and pairs[0].alignment == ()
    assert len(load_tsv_pairs(path, max_pairs=2)) == 2
    short = load_tsv_pairs(path, max_len=2)
    assert [len(p.src) for p in short] == [2]
    assert short.skipped == {"blank": 1, "empty side": 0, "too long": 2}


def test_tsv_loader_strips_a_byte_order_mark_and_counts_what_it_skips(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffHi.\tHallo.\r\n\r\nGo.\tGeh.\r\n".encode("utf-8"))
    corpus = load_tsv_pairs(path)
    assert [p.src for p in corpus] == [("hi", "."), ("go", ".")]
    assert corpus[1].tgt == ("geh", ".")
    assert corpus.skipped == {"blank": 1, "empty side": 0, "too long": 0}
    path.write_bytes("Hi.\t  \n".encode("utf-8"))
    assert load_tsv_pairs(path).skipped["empty side"] == 1


def test_tsv_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no corpus file"):
        load_tsv_pairs(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("only one column\n", encoding="utf-8")
    with pytest.raises(ValueError, match="bad.txt:1"):
        load_tsv_pairs(bad)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Hi.\tHallo.\nGreat.\tSchön.\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt:2: not valid UTF-8"):
        load_tsv_pairs(latin1)
    for bad_value in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="max_pairs must be a whole number >= 1"):
            load_tsv_pairs(bad, max_pairs=bad_value)
        with pytest.raises(ValueError, match="max_len must be a whole number >= 1"):
            load_tsv_pairs(bad, max_len=bad_value)
    assert tokenize("Hallo, Welt!") == ("hallo", ",", "welt", "!")


@pytest.mark.parametrize("kind", ["copy", "reverse", "sort"])
def test_toy_tasks(kind):
    task = make_toy_task(kind, 50, 6, 9, torch.Generator().manual_seed(0))
    assert task.src.shape == task.tgt.shape == (50, 6)
    assert torch.equal(task.tgt, torch.gather(task.src, 1, task.alignment))
    expected = {"copy": task.src, "reverse": task.src.flip(1),
                "sort": task.src.sort(dim=1).values}[kind]
    assert torch.equal(task.tgt, expected)
    again = make_toy_task(kind, 50, 6, 9, torch.Generator().manual_seed(0))
    assert torch.equal(again.src, task.src)


def test_toy_task_errors():
    with pytest.raises(ValueError, match="unknown task"):
        make_toy_task("shuffle", 2, 3)
    with pytest.raises(ValueError, match="length >= 1"):
        make_toy_task("copy", 2, 0)
