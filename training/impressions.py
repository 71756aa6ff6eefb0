"""Training rows for the slot rankers: logged impressions joined to what the user did with them.

One row per impression of a slot, labelled by the actions that followed in the same served page
(``request_id``): click and engagement on the item itself, a follow of its account, and a conversion (the
``purchase`` head: a cart or a purchase) of the product, or of a product the post points at.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features.contract import code, enum_codes

SLOT_TARGET = {"follow_feed": "post", "new_arrival": "product"}

#: Actions that label the conversion head (``purchase``): a cart that is not bought is evidence of intent too, so
#: the head learns from more positives (a medium world logs about 3.3k carts beside 4.3k purchases). Closed loop,
#: medium world, seeds 1-3: new arrival nDCG@10 0.763 -> 0.769 (higher on every seed), follow feed 0.782 -> 0.781.
CONVERSION = ("cart", "purchase")


@dataclass(frozen=True)
class ImpressionRows:
    """Row keys (the feature frame's schema), positions, labels per head, and the time of each row."""

    rows: pa.Table  # user_id, target_type, target_id, account_id, category, request_ms
    position: np.ndarray
    request_id: np.ndarray
    labels: dict[str, np.ndarray]
    propensity: np.ndarray  # logged probability of the item at its position (1 when the log has none)

    def __len__(self) -> int:
        return self.rows.num_rows

    def take(self, mask: np.ndarray) -> ImpressionRows:
        """The rows where ``mask`` is true."""
        return self.subset(np.flatnonzero(mask))

    def subset(self, idx: np.ndarray) -> ImpressionRows:
        """The rows at positions ``idx``, in that order."""
        return ImpressionRows(self.rows.take(pa.array(idx)), self.position[idx], self.request_id[idx],
                              {h: v[idx] for h, v in self.labels.items()}, self.propensity[idx])


def _match(req: np.ndarray, target: np.ndarray, ev_req: np.ndarray, ev_target: np.ndarray) -> np.ndarray:
    """For each (req, target), whether some event has the same pair."""
    scale = np.int64(max(int(target.max(initial=0)), int(ev_target.max(initial=0))) + 1)
    keys = np.sort(ev_req * scale + ev_target)
    q = req * scale + target
    pos = np.minimum(np.searchsorted(keys, q), max(len(keys) - 1, 0))
    return (keys[pos] == q) if len(keys) else np.zeros(len(q), bool)


def impression_rows(tables: dict[str, pa.Table], slot: str) -> ImpressionRows:
    """Labelled impressions of ``slot`` ("follow_feed" posts or "new_arrival" products)."""
    if slot not in SLOT_TARGET:
        raise ValueError(f"slot: {slot!r} has no impression rows (known: {', '.join(SLOT_TARGET)})")
    ev = tables["events"]
    action = enum_codes(ev.column("action"), "action")
    ttype = enum_codes(ev.column("target_type"), "target_type")
    ev_slot = enum_codes(ev.column("slot"), "slot")
    req = ev.column("request_id").fill_null(-1).to_numpy()
    target = ev.column("target_id").to_numpy()
    want = code("target_type", SLOT_TARGET[slot])
    imp = np.flatnonzero((action == code("action", "impression")) & (ev_slot == code("slot", slot))
                         & (ttype == want) & (req >= 0))
    item = target[imp]
    if slot == "follow_feed":
        posts = tables["posts"]
        account = posts.column("account_id").to_numpy()[item]
        acc_cat = tables["accounts"].column("category").to_numpy()
        category = acc_cat[account]
    else:
        products = tables["products"]
        account = products.column("shop_id").to_numpy()[item]
        category = products.column("category").to_numpy()[item]
    labels = _labels(tables, slot, req, target, action, ttype, req[imp], item, account)
    rows = pa.table({
        "user_id": ev.column("user_id").to_numpy()[imp],
        "target_type": np.full(len(imp), want, np.int8),
        "target_id": item.astype(np.int64),
        "account_id": account.astype(np.int64),
        "category": category.astype(np.int64),
        "request_ms": pc.cast(ev.column("event_time"), pa.int64()).to_numpy()[imp],
    })
    propensity = ev.column("propensity").fill_null(1.0).to_numpy()[imp].astype(np.float64)
    return ImpressionRows(rows, ev.column("position").fill_null(0).to_numpy()[imp].astype(np.int64),
                          req[imp], labels, propensity)


def _labels(tables: dict[str, pa.Table], slot: str, req: np.ndarray, target: np.ndarray, action: np.ndarray,
            ttype: np.ndarray, imp_req: np.ndarray, item: np.ndarray, account: np.ndarray) -> dict[str, np.ndarray]:
    want = code("target_type", SLOT_TARGET[slot])
    on_item = (ttype == want) & (req >= 0)

    def hit(actions: tuple[str, ...], mask: np.ndarray, what: np.ndarray, q_req: np.ndarray = imp_req) -> np.ndarray:
        sel = mask & np.isin(action, [code("action", a) for a in actions])
        return _match(q_req, what, req[sel], target[sel])

    labels = {
        "click": hit(("click",), on_item, item),
        "engage": hit(("like", "comment", "share"), on_item, item),
        "follow": hit(("follow",), (ttype == code("target_type", "account")) & (req >= 0), account),
    }
    buys = (ttype == code("target_type", "product")) & (req >= 0)
    if slot == "new_arrival":
        labels["purchase"] = hit(CONVERSION, buys, item)
    else:
        # A post sells the products it points at: a cart or purchase of any of them in the same page counts.
        post_products = tables["posts"].column("product_ids")
        offsets = post_products.combine_chunks().offsets.to_numpy()
        values = pc.list_flatten(post_products).to_numpy()
        n = offsets[item + 1] - offsets[item]
        owner = np.repeat(np.arange(len(item)), n)
        prods = values[np.repeat(offsets[item], n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))]
        bought = hit(CONVERSION, buys, prods, imp_req[owner]) if len(prods) else np.zeros(0, bool)
        labels["purchase"] = np.bincount(owner[bought], minlength=len(item)) > 0
    return labels
