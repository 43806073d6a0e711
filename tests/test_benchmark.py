"""The benchmark command runs (it reports timings; tests never assert on them)."""
from utils.measure import interleaved_seconds, multihead_speed


def test_interleaved_seconds_reports_every_function():
    calls = []
    seconds = interleaved_seconds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                                  rounds=3, warmup=1)
    assert set(seconds) == {"a", "b"} and calls == ["a", "b"] * 4
    assert all(s >= 0 for s in seconds.values())


def test_multihead_speed_runs_on_small_sizes():
    result = multihead_speed(B=2, L=8, E=16, H=2, rounds=2)
    assert set(result) == {"book", "torch", "ratio"} and result["ratio"] > 0


def test_peak_memory_sees_the_quadratic_matrix():
    from utils.measure import attention_peak_memory_mib

    naive = attention_peak_memory_mib("naive", 1024)
    assert 7.9 < naive < 9                    # scores and weights: 2 × 1024² × 4 bytes = 8 MiB
    assert attention_peak_memory_mib("tiled", 1024, block=64) < 1.5


def test_kv_cache_speed_runs_on_a_small_model():
    from utils.measure import kv_cache_speed
    from utils.models.gpt import GPT, GPTConfig

    model = GPT(GPTConfig(vocab=7, d_model=8, heads=2, layers=1, d_ff=16, max_len=12))
    result = kv_cache_speed(model, prompt_length=4, steps=8, rounds=1)
    assert set(result) == {"cached", "uncached", "speedup"} and result["speedup"] > 0
    assert not model.training


def test_notebook_seconds_executes_a_copy(tmp_path):
    import nbformat

    from utils.benchmark import notebook_seconds

    path = tmp_path / "tiny.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import os\nopen('ran.txt', 'w').write(os.environ['ATTENTION_BOOK_QUIET'])")]), path)
    assert notebook_seconds(path) > 0
    assert (tmp_path / "ran.txt").read_text() == "1"          # ran in the notebook's folder
    assert not nbformat.read(path, as_version=4).cells[0].outputs   # the file is untouched


def test_chapter_14_measurements_run_on_small_sizes():
    from utils.measure import kv_heads_decode_speed, window_attention_speed

    decode = kv_heads_decode_speed((1, 2), prompt_length=8, steps=2, rounds=1, d_model=16,
                                   heads=2)
    assert set(decode) == {1, 2} and all(s > 0 for s in decode.values())
    window = window_attention_speed(L=64, window=8, block=16, E=8, rounds=1)
    assert set(window) == {"full", "window", "ratio"} and window["ratio"] > 0
