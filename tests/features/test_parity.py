"""Parity: a simulated world replayed hour by hour through the online updater gives, at 10,000 random
(row, time) points, exactly the values of the offline training frame (memory and Redis stores)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from experiments.settings import SimulatorSettings
from experiments.simulate import simulate
from features.contract import ENUMS
from features.featuresets import get_feature_set
from features.offline import DataSource, build_frame
from features.online import OnlineFeatures, make_store
from features.settings import FeatureSettings

POINTS = 10_000
FOLLOW, UNFOLLOW = ENUMS["action"].index("follow"), ENUMS["action"].index("unfollow")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> DataSource:
    out = tmp_path_factory.mktemp("world") / "small"
    simulate(SimulatorSettings(), "small", 21, out)
    return DataSource.from_dir(out)


def snapshot(data: DataSource, start_ms: int) -> pa.Table:
    """The follows the online side starts from: those that began before the stream, open until an unfollow
    event of the stream ends them, plus follows the simulator records without a follow event."""
    follows, ev = data.table("follows"), data.events()
    acct = ev.ttype == ENUMS["target_type"].index("account")
    events_of = {a: set(zip(ev.user[m].tolist(), ev.target[m].tolist(), ev.time[m].tolist(), strict=True))
                 for a in (FOLLOW, UNFOLLOW) for m in [acct & (ev.action == a)]}
    users, accounts = follows["user_id"].to_pylist(), follows["account_id"].to_pylist()
    since = follows["followed_at"].cast(pa.int64()).to_pylist()
    until = follows["unfollowed_at"].cast(pa.int64()).to_pylist()
    keep = [s < start_ms or (u, a, s) not in events_of[FOLLOW] for u, a, s in zip(users, accounts, since, strict=True)]
    ended_by_event = [(u, a, e) in events_of[UNFOLLOW] for u, a, e in zip(users, accounts, until, strict=True)]
    out = follows.filter(pa.array(keep))
    reopen = pa.array([e for e, k in zip(ended_by_event, keep, strict=True) if k])
    ends = out["unfollowed_at"].combine_chunks()
    return out.set_column(3, "unfollowed_at", pc.if_else(reopen, pa.scalar(None, ends.type), ends))


def points(data: DataSource, name: str, n: int, rng: np.random.Generator) -> pa.Table:
    """Candidates of the set's kind (from impressions) at random times: half at the impression's own time."""
    target_type = 0 if name == "follow_feed_v1" else 1
    ev = data.events()
    pick = rng.choice(np.flatnonzero((ev.ttype == target_type) & (ev.action == 0)), n)
    times = rng.integers(ev.time.min(), ev.time.max() + 1, n)
    times[: n // 2] = ev.time[pick[: n // 2]]
    return data.catalog().candidate_rows(ev.user[pick], ENUMS["target_type"][target_type], ev.target[pick], times,
                                         {"embedding_similarity": rng.random(n)})


@pytest.fixture(params=["memory", "redis"])
def settings(request: pytest.FixtureRequest) -> Iterator[FeatureSettings]:
    s = FeatureSettings(online_store=request.param, redis_prefix=f"parity:{uuid.uuid4().hex[:8]}")
    if request.param == "redis":
        s = s.model_copy(update={"redis_url": request.getfixturevalue("redis_url")})
    yield s


@pytest.mark.parametrize("name", ["follow_feed_v1", "new_arrival_v1"])
def test_online_values_equal_offline_values(data: DataSource, settings: FeatureSettings, name: str) -> None:
    fs = get_feature_set(name)
    rows = points(data, name, POINTS, np.random.default_rng(7))
    offline = build_frame(fs, rows, data, settings=settings).values

    events, ev = data.table("events"), data.events()
    hour = ev.time // settings.bucket_ms
    start = int(hour.min()) * settings.bucket_ms
    store = make_store(fs, settings)
    online = OnlineFeatures(fs, store, data.catalog(follows=snapshot(data, start)))
    got = np.full_like(offline, np.nan)
    row_hour = pc.cast(rows["request_ms"], pa.int64()).to_numpy() // settings.bucket_ms
    try:
        # Each hour's whole batch goes in before that hour's points are read: events at and after a point's
        # time are in the store, and must not be seen.
        for h in range(int(hour.min()), int(hour.max()) + 1):
            online.update(events.filter(pa.array(hour == h)))
            at = np.flatnonzero(row_hour == h)
            if len(at):
                got[at] = online.get(rows.take(at))
    finally:
        store.clear()
        store.close()
    mismatched = offline.view(np.uint32) != got.view(np.uint32)
    bad = {fs.columns[j]: int(mismatched[:, j].sum()) for j in np.flatnonzero(mismatched.any(axis=0))}
    assert not bad, f"online differs from offline: {bad}"
    assert (offline != 0).mean() > 0.3  # real values, not a comparison of defaults
    varied = ["acct_followers", "uc_impressions_30d", "acct_fan_engagement_rate_30d",
              "post_fan_impressions" if name == "follow_feed_v1" else "prod_fan_impressions"]
    assert all(np.unique(offline[:, fs.columns.index(c)]).size > 20 for c in varied)
