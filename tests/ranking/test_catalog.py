"""CatalogIndex: known answers on the tiny world, and brute-force agreement on a random one."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features.contract import code
from features.storage import write_dataset
from ranking.catalog import CatalogIndex
from tests.ranking.worlds import DAY, FAN, HOUR, NEWFAN, NOBODY, NOW, random_world, tiny_catalog, tiny_tables


def test_followed_accounts_at_a_time() -> None:
    cat = tiny_catalog()
    query, account = cat.followed(np.array([FAN, NOBODY, NEWFAN, FAN]), np.array([NOW, NOW, NOW, NOW - 20 * DAY]))
    got = [sorted(account[query == i].tolist()) for i in range(4)]
    assert got == [[1, 2, 3], [], [4], [1, 2, 3, 5]]  # 5 was unfollowed ten days ago
    _, later = cat.followed(np.array([NEWFAN]), NOW + HOUR)
    assert sorted(later.tolist()) == [1, 4]  # a follow counts from its start, inclusive


def test_account_attributes_and_unknown_ids() -> None:
    cat = tiny_catalog()
    ids = np.array([3, 1, 99])
    assert cat.tier(ids).tolist() == [code("tier", "H1"), code("tier", "W2"), -1]
    assert cat.kind(ids).tolist() == [code("account_kind", "shop")] * 2 + [-1]
    assert cat.preferred(ids).tolist() == [False, True, False]
    assert cat.category(ids).tolist() == [10, 10, -1]
    assert cat.post_rows(np.array([12, 7])).tolist()[1] == -1 and cat.product_rows(np.array([101]))[0] >= 0


def test_windows_are_half_open() -> None:
    cat = tiny_catalog()
    query, rows = cat.posts_in_window(np.array([1, 1]), np.array([NOW - 5 * HOUR, NOW - 5 * HOUR + 1]),
                                      np.array([NOW - 2 * HOUR, NOW]))
    ids = cat.post_candidates(query, rows).item_id
    assert ids[query == 0].tolist() == [12] and ids[query == 1].tolist() == [11]
    query, rows = cat.products_in_window(np.array([1]), NOW - 8 * DAY, NOW)
    assert sorted(cat.product_candidates(query, rows).item_id.tolist()) == [101, 102]


def test_is_fan_and_followed_agree_with_brute_force_on_a_random_world() -> None:
    rng = np.random.default_rng(17)
    world = random_world(rng, users=40, accounts=12)
    f = world.follows
    users = rng.choice(world.user_id, 2_000)
    accounts = rng.choice(world.account_id, 2_000)
    at = world.start_ms + rng.integers(-2 * DAY, 12 * DAY, 2_000)
    brute = [bool(np.any((f.user_id == u) & (f.account_id == a) & (f.followed_ms <= t) & (t < f.unfollowed_ms)))
             for u, a, t in zip(users, accounts, at, strict=True)]
    assert world.catalog.is_fan(users, accounts, at).tolist() == brute
    assert 0 < sum(brute) < len(brute)
    query, followed = world.catalog.followed(users[:200], at[:200])
    for i in range(200):
        live = (f.user_id == users[i]) & (f.followed_ms <= at[i]) & (at[i] < f.unfollowed_ms)
        assert sorted(followed[query == i].tolist()) == sorted(set(f.account_id[live].tolist()))


def test_from_dir_reads_stored_contract_tables(tmp_path: Path) -> None:
    write_dataset(tmp_path / "data", tiny_tables())
    stored = CatalogIndex.from_dir(tmp_path / "data")
    users, at = np.array([FAN, NEWFAN, FAN]), np.array([NOW, NOW, NOW - 20 * DAY])
    assert stored.followed(users, at)[1].tolist() == tiny_catalog().followed(users, at)[1].tolist()
    ids = np.array([11, 12, 41, 101])
    assert stored.post_rows(ids).tolist() == tiny_catalog().post_rows(ids).tolist()
