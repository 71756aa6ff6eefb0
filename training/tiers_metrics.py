"""Per-account private-domain metrics of the monthly tier assessment, computed point in time.

The assessment of month ``M`` runs at ``T`` = the 1st of ``M`` 00:00 UTC on the window ``[T - 30 days, T)``.
Only events strictly before ``T`` count, and fan status is read from the ``follows`` table through
:class:`~features.graph.FanIndex`: a user is a *fan at T* when one of their follow intervals has started
before ``T`` and not ended before ``T`` (FanIndex asked at ``T - 1 ms``). Definitions (window events only):

* ``fans``: fans at ``T``.
* ``fan_activity``: share of fans at ``T`` who *did* something on the account's content (its posts, its
  products, its page) in the window. Impressions do not count: they are what the platform did, not the fan.
* ``fan_interaction_rate``: likes + comments + shares on the account's posts by users who were fans at the
  time of the event, divided by impressions of its posts to users who were fans at that time.
* ``fan_purchases``: purchases credited to the account by users who were its fans at the time of purchase.
  A purchase is credited to the product's shop, and also to the author of a post that points at the product
  when the buyer clicked that post in the same served page (``request_id``): an influencer's guide post
  earns the sales it drove.
* ``fan_revisit_rate``: share of fans at ``T`` who visited the account page (``target_type`` account,
  action click) strictly after their first interaction with the account in the window. The first
  interaction is the earliest non-impression event on the account's content, so a fan whose first contact
  was a page visit revisits with a second visit ("2+ visits" is a special case of "came back").
* ``offsite_share``: account-page visits from off-site sources / all account-page visits; the visits of
  each off-site source are also returned as ``offsite_visits_<source>``.
* LINK+: ``lead_visits`` (account-page visits, LEAD); ``interlock_rate`` (new follows / page visits;
  may exceed 1 since follows also come from content, INTERLOCK); ``engage_rate`` (page visits of fans at
  ``T`` after their first interaction, per fan, ENGAGE); ``keep_rate`` (buyers with 2+ credited purchases /
  buyers, KEEP).
* ``new_follows`` / ``unfollows``: follow intervals that started / ended in the window.

Every rate whose denominator is zero is 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import OFFSITE_SOURCES, code, enum_codes
from features.graph import FanIndex
from ranking.catalog import lookup
from ranking.windows import expand

_OPEN = np.iinfo(np.int64).max
_ENGAGE = np.array([code("action", a) for a in ("like", "comment", "share")], dtype=np.int8)
_IMPRESSION, _CLICK, _PURCHASE = code("action", "impression"), code("action", "click"), code("action", "purchase")
_POST, _PRODUCT, _ACCOUNT = (code("target_type", t) for t in ("post", "product", "account"))
_OFFSITE = np.array([code("source", s) for s in OFFSITE_SOURCES], dtype=np.int8)

#: Private-domain metrics behind traffic rewards (DOMAIN: fan count, activity, interaction, purchases).
PRIVATE_DOMAIN = ("fans", "fan_activity", "fan_interaction_rate", "fan_purchases")

#: Event columns the assessment reads.
EVENT_COLUMNS = ["user_id", "target_type", "target_id", "action", "source", "event_time", "request_id"]

#: Metric columns returned by :func:`account_metrics`, in output order.
METRICS: tuple[str, ...] = (
    "fans", "fan_activity", "fan_interaction_rate", "fan_purchases", "fan_revisit_rate", "offsite_share",
    "lead_visits", "interlock_rate", "engage_rate", "keep_rate", "new_follows", "unfollows",
    *(f"offsite_visits_{s}" for s in OFFSITE_SOURCES),
)


@dataclass(frozen=True)
class Window:
    """The assessment window ``[start_ms, end_ms)``; ``end_ms`` is the assessment time."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True)
class _Events:
    """Window events resolved to the account they are on (``acc`` is an index into the assessed accounts)."""

    user: np.ndarray
    urank: np.ndarray  # dense rank of user: pairs (acc, user) pack into one int64 whatever the ids
    acc: np.ndarray
    ttype: np.ndarray
    action: np.ndarray
    source: np.ndarray
    time: np.ndarray
    request: np.ndarray
    target: np.ndarray


def _ms(column: pa.ChunkedArray | pa.Array, fill: int) -> np.ndarray:
    return pc.cast(column, pa.int64()).fill_null(fill).to_numpy(zero_copy_only=False)


def _resolve(tables: Mapping[str, pa.Table], account_ids: np.ndarray, window: Window) -> _Events:
    """Events in the window with the account each one is on; events on unknown targets are dropped."""
    ev = tables["events"]
    time = _ms(ev.column("event_time"), _OPEN)
    keep = np.flatnonzero((time >= window.start_ms) & (time < window.end_ms))
    ev = ev.take(pa.array(keep))
    ttype, target = enum_codes(ev.column("target_type"), "target_type"), ev.column("target_id").to_numpy()
    owner = np.full(len(target), -1, dtype=np.int64)
    for table, id_col, owner_col, tt in (("posts", "post_id", "account_id", _POST),
                                         ("products", "product_id", "shop_id", _PRODUCT)):
        ids, owners = tables[table].column(id_col).to_numpy(), tables[table].column(owner_col).to_numpy()
        order = np.argsort(ids, kind="stable")
        rows = lookup(ids[order], target)
        on = (ttype == tt) & (rows >= 0)
        owner[on] = owners[order][rows[on]]
    owner[ttype == _ACCOUNT] = target[ttype == _ACCOUNT]
    acc = lookup(account_ids, owner)
    ok = acc >= 0
    user = ev.column("user_id").to_numpy()[ok]
    return _Events(user, np.unique(user, return_inverse=True)[1].reshape(-1), acc[ok], ttype[ok],
                   enum_codes(ev.column("action"), "action")[ok], enum_codes(ev.column("source"), "source")[ok],
                   time[keep][ok], _ms(ev.column("request_id"), -1)[ok], target[ok])


def _credited_purchases(e: _Events, posts: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """``(event_row, account)`` for every purchase: its shop, plus the author of a post clicked in the same page.

    Posts are joined on (request, product): the buyer clicked a post pointing at the product in the page
    (``request_id``) where the purchase happened; the author is credited when it is not the shop itself.
    """
    buys = np.flatnonzero(e.action == _PURCHASE)
    clicks = np.flatnonzero((e.action == _CLICK) & (e.ttype == _POST) & (e.request >= 0))
    post_ids = posts.column("post_id").to_numpy()
    order = np.argsort(post_ids, kind="stable")
    row = order[np.maximum(lookup(post_ids[order], e.target[clicks]), 0)]
    lists = posts.column("product_ids").combine_chunks()
    parent = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)
    flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False)
    start, stop = np.searchsorted(parent, row, "left"), np.searchsorted(parent, row, "right")
    which, pos = expand(start, stop - start)
    c_req, c_prod, c_acc = e.request[clicks[which]], flat[pos], e.acc[clicks[which]]
    b_req, b_prod = e.request[buys], e.target[buys]
    requests, products = np.unique(np.concatenate([c_req, b_req])), np.unique(np.concatenate([c_prod, b_prod]))
    key = np.searchsorted(requests, c_req) * (len(products) + 1) + np.searchsorted(products, c_prod)
    b_key = np.searchsorted(requests, b_req) * (len(products) + 1) + np.searchsorted(products, b_prod)
    k_order = np.argsort(key, kind="stable")
    hit = lookup(key[k_order], b_key)
    author = np.where((hit >= 0) & (b_req >= 0), c_acc[k_order][np.maximum(hit, 0)] if len(key) else -1, -1)
    extra = (author >= 0) & (author != e.acc[buys])
    return np.concatenate([buys, buys[extra]]), np.concatenate([e.acc[buys], author[extra]])


def _group_reduce(keys: np.ndarray, values: np.ndarray, ufunc: np.ufunc) -> tuple[np.ndarray, np.ndarray]:
    """Distinct keys (ascending) and ``ufunc.reduce`` of their values."""
    if not len(keys):
        return keys, values
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], k[1:] != k[:-1]]))
    return k[starts], ufunc.reduceat(values[order], starts)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros(len(num)), where=den > 0)


def _fans_and_follows(follows: pa.Table, account_ids: np.ndarray, window: Window) -> dict[str, np.ndarray]:
    """Fans at ``T`` (distinct users), follows started and ended in the window, per account."""
    n = len(account_ids)
    acc = lookup(account_ids, follows.column("account_id").to_numpy())
    user = follows.column("user_id").to_numpy()
    since, until = _ms(follows.column("followed_at"), _OPEN), _ms(follows.column("unfollowed_at"), _OPEN)
    live = (acc >= 0) & (since < window.end_ms) & (until >= window.end_ms)
    users, rank = np.unique(user[live], return_inverse=True)
    pairs = np.unique(acc[live] * (len(users) + 1) + rank.reshape(-1)) // (len(users) + 1)
    started = (acc >= 0) & (since >= window.start_ms) & (since < window.end_ms)
    ended = (acc >= 0) & (until >= window.start_ms) & (until < window.end_ms)
    return {"fans": np.bincount(pairs, minlength=n),
            "new_follows": np.bincount(acc[started], minlength=n),
            "unfollows": np.bincount(acc[ended], minlength=n)}


def account_metrics(tables: Mapping[str, pa.Table], account_ids: np.ndarray, window: Window) -> dict[str, np.ndarray]:
    """Every metric of :data:`METRICS` for each of ``account_ids`` (sorted ascending), aligned with it.

    ``tables`` holds the contract tables ``events``, ``follows``, ``posts`` and ``products``.
    """
    account_ids = np.asarray(account_ids, dtype=np.int64)
    if np.any(np.diff(account_ids) <= 0):
        raise ValueError("account_ids: must be sorted ascending without repeats")
    n, e = len(account_ids), _resolve(tables, account_ids, window)
    out: dict[str, np.ndarray] = dict(_fans_and_follows(tables["follows"], account_ids, window))
    fans_index = FanIndex(tables["follows"])
    acc_id = account_ids[e.acc]
    fan_then = fans_index.is_fan(e.user, acc_id, e.time)
    fan_now = fans_index.is_fan(e.user, acc_id, np.full(len(e.user), window.end_ms - 1))
    posts = e.ttype == _POST
    engaged = np.bincount(e.acc[posts & fan_then & np.isin(e.action, _ENGAGE)], minlength=n)
    shown = np.bincount(e.acc[posts & fan_then & (e.action == _IMPRESSION)], minlength=n)
    out["fan_interaction_rate"] = _ratio(engaged, shown)
    out.update(_fan_behaviour(e, fan_now, out["fans"], n))
    row, credited = _credited_purchases(e, tables["posts"])
    fan_buy = fans_index.is_fan(e.user[row], account_ids[credited], e.time[row])
    out["fan_purchases"] = np.bincount(credited[fan_buy], minlength=n)
    stride = int(e.urank.max(initial=0)) + 1
    buyer, orders = _group_reduce(credited * stride + e.urank[row], np.ones(len(row), np.int64), np.add)
    buyer_acc = buyer // stride
    out["keep_rate"] = _ratio(np.bincount(buyer_acc[orders >= 2], minlength=n), np.bincount(buyer_acc, minlength=n))
    out.update(_visits(e, n))
    out["interlock_rate"] = _ratio(out["new_follows"], out["lead_visits"])
    return {name: out[name] for name in METRICS}


def _fan_behaviour(e: _Events, fan_now: np.ndarray, fans: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Activity, revisit and ENGAGE of fans at ``T`` (see the module docstring)."""
    stride = int(e.urank.max(initial=0)) + 1
    acted = np.flatnonzero(fan_now & (e.action != _IMPRESSION))
    first_key, first_time = _group_reduce(e.acc[acted] * stride + e.urank[acted], e.time[acted], np.minimum)
    visits = acted[(e.ttype[acted] == _ACCOUNT) & (e.action[acted] == _CLICK)]
    # Every visit is an interaction, so each visit's pair is among first_key.
    v_first = first_time[np.searchsorted(first_key, e.acc[visits] * stride + e.urank[visits])]
    back = e.time[visits] > v_first
    back_key = np.unique(e.acc[visits[back]] * stride + e.urank[visits[back]])
    return {"fan_activity": _ratio(np.bincount(first_key // stride, minlength=n), fans),
            "fan_revisit_rate": _ratio(np.bincount(back_key // stride, minlength=n), fans),
            "engage_rate": _ratio(np.bincount(e.acc[visits[back]], minlength=n), fans)}


def _visits(e: _Events, n: int) -> dict[str, np.ndarray]:
    """Account-page visits (LEAD) and the off-site ones by source."""
    visit = (e.ttype == _ACCOUNT) & (e.action == _CLICK)
    out = {"lead_visits": np.bincount(e.acc[visit], minlength=n)}
    for name, src in zip(OFFSITE_SOURCES, _OFFSITE, strict=True):
        out[f"offsite_visits_{name}"] = np.bincount(e.acc[visit & (e.source == src)], minlength=n)
    out["offsite_share"] = _ratio(np.bincount(e.acc[visit & np.isin(e.source, _OFFSITE)], minlength=n),
                                  out["lead_visits"])
    return out


def _percentile(values: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value among ``values`` (ties share their mean rank), in (0, 1]."""
    ranked = np.sort(values)
    below, upto = np.searchsorted(ranked, values, "left"), np.searchsorted(ranked, values, "right")
    return (below + upto + 1) / (2.0 * max(len(values), 1))


def reward_multipliers(metrics: Mapping[str, np.ndarray], group: np.ndarray, eligible: np.ndarray, *,
                       top_share: float, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """``(private_domain_score, multiplier)`` of each account.

    The score is the mean percentile, within the account's ``group`` (its tier) among eligible accounts, of
    its fans, fan activity, fan interaction rate and fan purchases (NaN when not eligible). The best
    ``floor(top_share * eligible in group)`` accounts of each group get a multiplier from ``high`` (the best)
    down to ``low`` (the last rewarded), linearly in rank; everyone else gets 1.
    """
    n = len(group)
    score, mult = np.full(n, np.nan), np.ones(n)
    for g in np.unique(group[eligible]):  # a handful of tiers, not accounts
        rows = np.flatnonzero(eligible & (group == g))
        score[rows] = np.mean([_percentile(np.asarray(metrics[m], float)[rows]) for m in PRIVATE_DOMAIN], axis=0)
        top = int(np.floor(top_share * len(rows)))
        if top == 0:
            continue
        best = rows[np.lexsort((rows, -score[rows]))][:top]
        mult[best] = high - (high - low) * np.arange(top) / max(top - 1, 1)
    return score, mult
