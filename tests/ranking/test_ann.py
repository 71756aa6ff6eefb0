"""The faiss item index: exact for small catalogues, IVF for large ones, measured against exact search."""

from __future__ import annotations

from pathlib import Path

import faiss
import numpy as np
import pytest

from ranking.ann import (
    EXACT_MAX_ITEMS,
    ItemIndex,
    calibrate_nprobe,
    choose_index,
    default_nprobe,
    ivf_lists,
    recall_at,
)

DIM = 32


def clustered(rng: np.random.Generator, n: int, centres: np.ndarray) -> np.ndarray:
    """Embedding-like vectors: a Gaussian mixture whose noise is as large as the spread of its centres."""
    return (centres[rng.integers(0, len(centres), n)] + rng.standard_normal((n, DIM))).astype(np.float32)


@pytest.fixture(scope="module")
def catalogue() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """30,000 item vectors with ids 5, 10, 15, ... and 200 user queries from the same mixture."""
    rng = np.random.default_rng(42)
    centres = rng.standard_normal((200, DIM))
    return clustered(rng, 30_000, centres), 5 * np.arange(1, 30_001), clustered(rng, 200, centres)


def test_one_function_chooses_the_structure_by_size() -> None:
    assert isinstance(faiss.downcast_index(choose_index(EXACT_MAX_ITEMS, DIM).index), faiss.IndexFlatIP)
    large = faiss.downcast_index(choose_index(EXACT_MAX_ITEMS + 1, DIM))
    assert isinstance(large, faiss.IndexIVFScalarQuantizer)
    assert large.sq.qtype == faiss.ScalarQuantizer.QT_8bit  # a byte per dimension
    assert large.nlist == ivf_lists(EXACT_MAX_ITEMS + 1) == round(4 * np.sqrt(EXACT_MAX_ITEMS + 1))
    assert large.nprobe == default_nprobe(large.nlist)
    assert faiss.downcast_index(choose_index(EXACT_MAX_ITEMS + 1, DIM, nprobe=7)).nprobe == 7
    with pytest.raises(ValueError, match="nprobe"):
        choose_index(10, DIM, nprobe=0)


def test_exact_index_has_recall_one_and_returns_item_ids(catalogue: tuple[np.ndarray, ...]) -> None:
    vectors, ids, queries = catalogue
    small, small_ids = vectors[:2_000], ids[:2_000]
    index = ItemIndex.build(small, small_ids)
    assert index.exact and index.nprobe is None
    assert recall_at(index, small, queries, k=100, ids=small_ids) == 1.0
    scores, found = index.search(queries[:3], 5)
    best = np.argmax(small @ queries[0])
    assert found[0, 0] == small_ids[best]
    np.testing.assert_allclose(scores[0, 0], small[best] @ queries[0], rtol=1e-5)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_ivf_recall_at_100_reaches_095_at_the_chosen_nprobe(catalogue: tuple[np.ndarray, ...]) -> None:
    vectors, ids, queries = catalogue
    index = ItemIndex.build(vectors, ids, exact_max_items=10_000, rng=np.random.default_rng(3))
    assert not index.exact
    assert faiss.downcast_index(index.index).code_size == DIM  # one byte per dimension, not four
    # calibrated at build on its own vectors: fewer lists than the fixed share, and held-out queries still
    # reach the recall the service needs
    assert index.nprobe < default_nprobe(ivf_lists(len(vectors)))
    assert recall_at(index, vectors, queries, k=100, ids=ids) >= 0.95
    fixed = ItemIndex.build(vectors, ids, exact_max_items=10_000, recall_target=None)
    assert fixed.nprobe == default_nprobe(ivf_lists(len(vectors)))
    index.set_nprobe(1)  # the measure can fail: one list of ~700 misses much of the true top 100
    assert recall_at(index, vectors, queries, k=100, ids=ids) < 0.95


def test_calibration_finds_the_smallest_nprobe_even_without_structure() -> None:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((6_000, 16)).astype(np.float32)  # isotropic: IVF's hardest case
    queries = rng.standard_normal((100, 16)).astype(np.float32)
    index = ItemIndex.build(vectors, exact_max_items=1_000)
    chosen = calibrate_nprobe(index, vectors, queries, k=100, target=0.95)
    assert index.nprobe == chosen
    assert recall_at(index, vectors, queries, k=100) >= 0.95
    index.set_nprobe(chosen - 1)
    assert recall_at(index, vectors, queries, k=100) < 0.95


@pytest.mark.parametrize("exact_max_items", [EXACT_MAX_ITEMS, 1_000])
def test_save_load_round_trip_gives_identical_results(exact_max_items: int, catalogue: tuple[np.ndarray, ...],
                                                      tmp_path: Path) -> None:
    vectors, ids, queries = catalogue
    index = ItemIndex.build(vectors[:5_000], ids[:5_000], nprobe=9, exact_max_items=exact_max_items)
    loaded = ItemIndex.load(index.save(tmp_path / "items.faiss"))
    assert loaded.exact == index.exact and loaded.nprobe == index.nprobe
    for a, b in zip(index.search(queries, 50), loaded.search(queries, 50), strict=True):
        np.testing.assert_array_equal(a, b)


def test_search_pads_short_catalogues_and_checks_its_input() -> None:
    index = ItemIndex.build(np.eye(3, dtype=np.float32), np.array([7, 8, 9]))
    scores, ids = index.search(np.array([[0.0, 1.0, 0.0]]), 5)
    assert ids[0, 0] == 8 and set(ids[0, :3].tolist()) == {7, 8, 9}
    assert ids[0, 3:].tolist() == [-1, -1] and np.isneginf(scores[0, 3:]).all()
    with pytest.raises(ValueError, match="vectors"):
        index.search(np.ones((1, 4)), 2)
    with pytest.raises(ValueError, match="ids"):
        ItemIndex.build(np.eye(3), np.array([1, 1, 2]))
    with pytest.raises(ValueError, match="nprobe"):
        index.set_nprobe(3)
