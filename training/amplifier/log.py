"""What the amplifier reads: post events with point-in-time fan status, follow events and the catalogue.

Everything is a numpy array indexed densely: posts, accounts and users by their row in the catalogue (contract
ids are mapped once in :meth:`PostLog.from_tables`), so the feature code never joins tables. The closed-loop
gate builds the same arrays from the simulated world's event stream (``PostLog.append``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import enum_codes
from features.follows import FollowState

ACTIONS = ("impression", "click", "dwell", "like", "comment", "share", "follow", "unfollow", "cart", "purchase")
IMPRESSION, DWELL, LIKE, COMMENT, SHARE, UNFOLLOW = (ACTIONS.index(a) for a in
                                                    ("impression", "dwell", "like", "comment", "share", "unfollow"))
HOTLIST = 2  # slot code of the public hotlist (contract enum order)
EVENT_FIELDS = ("user", "post", "action", "slot", "time", "dwell", "fan")


@dataclass
class Catalogue:
    """Observable columns of posts, accounts and users (index = dense id)."""

    post_account: np.ndarray
    post_kind: np.ndarray
    post_format: np.ndarray
    post_created_ms: np.ndarray
    post_public: np.ndarray  # published public (official) rather than fans-only
    account_kind: np.ndarray
    account_tier: np.ndarray
    account_state: np.ndarray
    account_preferred: np.ndarray
    account_created_ms: np.ndarray
    user_created_ms: np.ndarray


@dataclass
class PostLog:
    """Events on posts (``fan``: the user followed the post's author at that moment) and unfollows."""

    cat: Catalogue
    user: np.ndarray
    post: np.ndarray
    action: np.ndarray
    slot: np.ndarray
    time: np.ndarray
    dwell: np.ndarray
    fan: np.ndarray
    unfollow_user: np.ndarray
    unfollow_account: np.ndarray
    unfollow_time: np.ndarray

    def __len__(self) -> int:
        return len(self.user)

    def append(self, user: np.ndarray, post: np.ndarray, action: np.ndarray, slot: np.ndarray, time: np.ndarray,
               dwell: np.ndarray, fan: np.ndarray, unfollows: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """Add a batch of post events and (user, account, time) unfollows (the online path)."""
        for name, value in zip(EVENT_FIELDS, (user, post, action, slot, time, dwell, fan), strict=True):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, np.asarray(value, old.dtype)]))
        for name, value in zip(("unfollow_user", "unfollow_account", "unfollow_time"), unfollows, strict=True):
            setattr(self, name, np.concatenate([getattr(self, name), np.asarray(value, np.int64)]))

    def before(self, t_ms: int) -> PostLog:
        """The log of events strictly before ``t_ms`` (training on a history, tests)."""
        keep, keep_u = self.time < t_ms, self.unfollow_time < t_ms
        cols = {f.name: getattr(self, f.name) for f in fields(self)}
        out = {k: (v[keep] if k in EVENT_FIELDS else v[keep_u] if k.startswith("unfollow") else v)
               for k, v in cols.items()}
        return PostLog(**out)

    @classmethod
    def empty(cls, cat: Catalogue) -> PostLog:
        """A log with no events yet."""
        z = np.zeros(0, np.int64)
        return cls(cat, z, z, np.zeros(0, np.int8), np.zeros(0, np.int8), z, np.zeros(0, np.float32),
                   np.zeros(0, bool), z, z, z)

    @classmethod
    def from_tables(cls, tables: dict[str, pa.Table]) -> PostLog:
        """Build the log from contract tables (events of unknown posts or users are dropped)."""
        posts, accounts, users = tables["posts"], tables["accounts"], tables["users"]
        acc_ids = _ints(accounts, "account_id")
        user_ids = _ints(users, "user_id")
        post_ids = _ints(posts, "post_id")
        post_account = _dense(acc_ids, _ints(posts, "account_id"))
        if (post_account < 0).any():
            raise ValueError("posts.account_id: a post points at an account missing from accounts")
        cat = Catalogue(
            post_account, enum_codes(posts.column("kind"), "post_kind"),
            enum_codes(posts.column("format"), "post_format"), _ms(posts, "created_at"),
            enum_codes(posts.column("visibility"), "visibility") == 1,
            enum_codes(accounts.column("kind"), "account_kind"), enum_codes(accounts.column("tier"), "tier"),
            enum_codes(accounts.column("tier_state"), "tier_state"),
            accounts.column("preferred_shop").to_numpy(zero_copy_only=False).astype(bool),
            _ms(accounts, "created_at"), _ms(users, "created_at"))
        ev = tables["events"]
        target = enum_codes(ev.column("target_type"), "target_type")
        action = enum_codes(ev.column("action"), "action")
        user = _dense(user_ids, _ints(ev, "user_id"))
        post = np.where(target == 0, _dense(post_ids, _ints(ev, "target_id")), -1)
        on_post = (post >= 0) & (user >= 0)
        time = _ms(ev, "event_time")
        dwell = pc.fill_null(ev.column("dwell_seconds"), 0.0).to_numpy(zero_copy_only=False).astype(np.float32)
        follows = FollowState.from_table(_dense_follows(tables["follows"], user_ids, acc_ids))
        p, u, t = post[on_post], user[on_post], time[on_post]
        fan = follows.is_fan(u, post_account[p], t)
        unf = (target == 2) & (action == UNFOLLOW) & (user >= 0)
        unf_account = _dense(acc_ids, _ints(ev, "target_id"))
        unf &= unf_account >= 0
        return cls(cat, u, p, action[on_post], enum_codes(ev.column("slot"), "slot")[on_post], t,
                   dwell[on_post], fan, user[unf], unf_account[unf], time[unf])


def _ints(table: pa.Table, name: str) -> np.ndarray:
    return pc.fill_null(table.column(name), -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _ms(table: pa.Table, name: str) -> np.ndarray:
    return pc.cast(table.column(name), pa.int64()).to_numpy(zero_copy_only=False).astype(np.int64)


def _dense(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Row of each value in ``ids`` (-1 where absent)."""
    if not len(ids):
        return np.full(len(values), -1, np.int64)
    order = np.argsort(ids, kind="stable")
    sorted_ids = ids[order]
    pos = np.minimum(np.searchsorted(sorted_ids, values), len(ids) - 1)
    return np.where(sorted_ids[pos] == values, order[pos], -1)


def _dense_follows(follows: pa.Table, user_ids: np.ndarray, acc_ids: np.ndarray) -> pa.Table:
    """The follows table with users and accounts as dense rows (unknown ones dropped)."""
    u, a = _dense(user_ids, _ints(follows, "user_id")), _dense(acc_ids, _ints(follows, "account_id"))
    keep = (u >= 0) & (a >= 0)
    out = follows.filter(pa.array(keep))
    return out.set_column(0, "user_id", pa.array(u[keep])).set_column(1, "account_id", pa.array(a[keep]))
