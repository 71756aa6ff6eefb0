"""The feature sets the slot rankers train and serve on, declared once (see ``features.definitions``).

``follow_feed_v1`` scores post candidates (关注动态), ``new_arrival_v1`` product candidates (宝贝上新).
A model stores the set's name, version, columns and fingerprint; :meth:`FeatureSet.check` refuses a mismatch.
Changing a declaration means a new version, never an edit in place of a set that models were trained on.
"""

from __future__ import annotations

from features.contract import OFFSITE_SOURCES
from features.definitions import (
    Count,
    Feature,
    FeatureError,
    FeatureSet,
    Lookup,
    Provided,
    Ratio,
    Relative,
)

DAY = 24
WEEK, MONTH = 7 * DAY, 30 * DAY
CONTENT = ("post", "product")
ENGAGE = ("like", "comment", "share")
# Priors of the rates: roughly the platform's average, worth a few dozen impressions of evidence.
CLICK_PRIOR = (1.0, 40.0)
ENGAGE_PRIOR = (1.0, 100.0)


def _count(name: str, entity: str, window: int | None, spec: Count, description: str) -> Feature:
    return Feature(name, entity, "int", window, spec, 0.0, description)


def _rate(name: str, entity: str, window: int | None, spec: Ratio, description: str) -> Feature:
    return Feature(name, entity, "float", window, spec, spec.prior_num / spec.prior_den, description)


def _lookup(name: str, entity: str, column: str, dtype: str, default: float, description: str) -> Feature:
    return Feature(name, entity, dtype, None, Lookup(column), default, description)


def affinity(prefix: str, entity: str, about: str) -> list[Feature]:
    """Impressions, clicks, engagements and rates of the user on ``about`` over 7 and 30 days."""
    out = []
    for window, tag in ((WEEK, "7d"), (MONTH, "30d")):
        imp, clk, eng = f"{prefix}_impressions_{tag}", f"{prefix}_clicks_{tag}", f"{prefix}_engagements_{tag}"
        out += [
            _count(imp, entity, window, Count(("impression",), CONTENT), f"impressions of {about}, {tag}"),
            _count(clk, entity, window, Count(("click",), CONTENT), f"clicks on {about}'s posts and products, {tag}"),
            _count(eng, entity, window, Count(ENGAGE, CONTENT), f"likes, comments and shares of {about}, {tag}"),
            _rate(f"{prefix}_click_rate_{tag}", entity, window, Ratio(clk, imp, *CLICK_PRIOR),
                  f"click rate on {about} with a prior, {tag}"),
            _rate(f"{prefix}_engagement_rate_{tag}", entity, window, Ratio(eng, imp, *ENGAGE_PRIOR),
                  f"engagement rate on {about} with a prior, {tag}"),
        ]
    return out


def account_features() -> list[Feature]:
    """The candidate's account: tier, preferred shop, fans, off-site share, revisits, LINK+ funnel, baseline."""
    visits = Count(("click",), ("account",))
    return [
        _lookup("acct_tier", "account", "tier", "category", -1.0, "account tier code (W1..W4, H1)"),
        _lookup("acct_tier_state", "account", "tier_state", "category", -1.0, "tier state code; -1 for W1, H1"),
        _lookup("acct_preferred_shop", "account", "preferred_shop", "bool", 0.0, "certified preferred shop"),
        _lookup("acct_kind", "account", "account_kind", "category", -1.0, "shop, influencer or official"),
        _lookup("acct_followers", "account", "followers", "int", 0.0, "account's fans at request time"),
        _rate("acct_offsite_share_30d", "account", MONTH,
              Ratio(Count(("click",), ("account",), sources=OFFSITE_SOURCES), visits, 0.0, 1.0),
              "account-page visits from off-site sources / all account-page visits, 30 d"),
        _rate("acct_fan_revisit_rate_30d", "account", MONTH,
              Ratio(Count(("click",), ("account",), audience="fan"), "acct_followers", 0.0, 1.0),
              "account-page visits by fans / fans, 30 d"),
        _count("link_lead_visits_30d", "account", MONTH, visits, "LINK+ LEAD: account-page visits, 30 d"),
        _rate("link_interlock_rate_30d", "account", MONTH,
              Ratio(Count(("follow",), ("account",)), "link_lead_visits_30d", 0.0, 1.0),
              "LINK+ INTERLOCK: follows / account-page visits, 30 d"),
        _rate("link_engage_rate_30d", "account", MONTH,
              Ratio(Count(("click",), ("account",), audience="fan", repeat=True), "acct_followers", 0.0, 1.0),
              "LINK+ ENGAGE: revisits (a user's second and later visits) by fans / fans, 30 d"),
        _rate("link_keep_rate_30d", "account", MONTH,
              Ratio(Count(("purchase",), ("product",), repeat=True), Count(("purchase",), ("product",)), 0.0, 1.0),
              "LINK+ KEEP: purchases by repeat buyers of the shop / all its purchases, 30 d"),
        _rate("acct_fan_engagement_rate_30d", "account", MONTH,
              Ratio(Count(ENGAGE, ("post",), "fan"), Count(("impression",), ("post",), "fan"), *ENGAGE_PRIOR),
              "account's own baseline: engagements / impressions of its posts among fans, 30 d"),
    ]


def post_features() -> list[Feature]:
    """The candidate post: fan and non-fan engagement since publish, against account and tier baselines."""
    out: list[Feature] = []
    for who in ("fan", "nonfan"):
        imp, clk, eng = f"post_{who}_impressions", f"post_{who}_clicks", f"post_{who}_engagements"
        out += [
            _count(imp, "post", None, Count(("impression",), ("post",), who), f"impressions among {who}s"),
            _count(clk, "post", None, Count(("click",), ("post",), who), f"clicks among {who}s"),
            _count(eng, "post", None, Count(ENGAGE, ("post",), who), f"likes, comments, shares among {who}s"),
            _rate(f"post_{who}_click_rate", "post", None, Ratio(clk, imp, *CLICK_PRIOR), f"click rate, {who}s"),
            _rate(f"post_{who}_engagement_rate", "post", None, Ratio(eng, imp, *ENGAGE_PRIOR),
                  f"engagement rate among {who}s"),
        ]
    rate = Ratio(Count(ENGAGE, ("post",)), Count(("impression",), ("post",)), *ENGAGE_PRIOR)
    return [
        *out,
        _rate("post_engagement_rate", "post", None, rate, "engagement rate, everyone, since publish"),
        Feature("post_rate_vs_account", "post", "float", None,
                Relative("post_fan_engagement_rate", "acct_fan_engagement_rate_30d"), 1.0,
                "post's fan engagement rate / its account's 30-day fan engagement rate"),
        _rate("tkf_engagement_rate_30d", "tier_kind_format", MONTH, rate,
              "baseline engagement rate of posts of the same tier × kind × format group, 30 d"),
        Feature("post_rate_vs_tier", "post", "float", None,
                Relative("post_engagement_rate", "tkf_engagement_rate_30d"), 1.0,
                "post's engagement rate / its tier × kind × format baseline"),
        _lookup("post_kind", "post", "post_kind", "category", -1.0, "product, interactive, info or guide"),
        _lookup("post_format", "post", "post_format", "category", -1.0, "nine_grid, article, video or live"),
        _lookup("post_posting_hour", "post", "posting_hour", "int", -1.0, "publication hour, UTC+8"),
        _lookup("post_product_count", "post", "post_products", "int", 0.0, "products the post points at"),
        _lookup("post_freshness_hours", "request", "freshness_hours", "float", -1.0, "hours since publication"),
    ]


def product_features() -> list[Feature]:
    """The candidate product: fan and non-fan clicks and purchases since launch, against the shop's baseline."""
    out: list[Feature] = []
    for who in ("fan", "nonfan"):
        imp, clk = f"prod_{who}_impressions", f"prod_{who}_clicks"
        out += [
            _count(imp, "product", None, Count(("impression",), ("product",), who), f"impressions among {who}s"),
            _count(clk, "product", None, Count(("click",), ("product",), who), f"clicks among {who}s"),
            _rate(f"prod_{who}_click_rate", "product", None, Ratio(clk, imp, *CLICK_PRIOR), f"click rate, {who}s"),
        ]
    clicks = Count(("click",), ("product",))
    return [
        *out,
        _count("prod_purchases", "product", None, Count(("purchase",), ("product",)), "purchases since launch"),
        _rate("prod_conversion_rate", "product", None, Ratio("prod_purchases", clicks, 0.0, 10.0),
              "purchases / clicks since launch, with a prior"),
        _rate("acct_fan_product_click_rate_30d", "account", MONTH,
              Ratio(Count(("click",), ("product",), "fan"), Count(("impression",), ("product",), "fan"),
                    *CLICK_PRIOR), "shop's own baseline: click rate of its products among fans, 30 d"),
        Feature("prod_rate_vs_account", "product", "float", None,
                Relative("prod_fan_click_rate", "acct_fan_product_click_rate_30d"), 1.0,
                "product's fan click rate / its shop's 30-day fan click rate on products"),
        _lookup("prod_price_band", "product", "price_band", "int", -1.0, "floor(log2(price))"),
        _lookup("prod_launch_hour", "product", "launch_hour", "int", -1.0, "launch hour, UTC+8"),
        _lookup("prod_launch_age_hours", "request", "launch_age_hours", "float", -1.0, "hours since launch"),
    ]


EMBEDDING = Feature("embedding_similarity", "request", "float", None, Provided("embedding_similarity"),
                    float("nan"), "user-candidate embedding similarity, supplied by the ranker at request time")


POSITION = Feature("position", "request", "float", None, Provided("position"), 0.0,
                   "0-based position on the page: the logged one in training, 0 (the top) when ranking, so the "
                   "model learns position bias apart from the item")


def _sets() -> dict[str, FeatureSet]:
    visits = _count("ua_visits_30d", "user_account", MONTH, Count(("click",), ("account",)),
                    "the user's visits to the account page, 30 d")
    users = [*affinity("ua", "user_account", "the account"), visits, *affinity("uc", "user_category", "the category")]
    request = (EMBEDDING, POSITION)
    follow_feed = FeatureSet("follow_feed_v1", 1, (*users, *account_features(), *post_features(), *request))
    new_arrival = FeatureSet("new_arrival_v1", 1, (*users, *account_features(), *product_features(), *request))
    return {s.name: s for s in (follow_feed, new_arrival)}


#: Every feature set the engine knows, by name.
FEATURE_SETS: dict[str, FeatureSet] = _sets()

#: The feature set each ranked slot trains and serves on (the hotlist has no slot ranker of this kind).
SLOT_FEATURE_SET = {"follow_feed": "follow_feed_v1", "new_arrival": "new_arrival_v1"}


def _product_columns_of_posts() -> dict[str, str]:
    out = {"prod_launch_age_hours": "post_freshness_hours", "prod_launch_hour": "post_posting_hour"}
    for who in ("fan", "nonfan"):
        out |= {f"prod_{who}_{what}": f"post_{who}_{what}" for what in ("impressions", "clicks", "click_rate")}
    return out


#: Feature sets whose rankers also learn from another set's training rows: the same users and accounts seen
#: through another kind of item. set -> (source set, {column: the source's column of the same meaning}).
#: Columns of the same name are the same declaration in both sets; a column with no counterpart is missing
#: (NaN) on the source's rows. New-arrival impressions are few (a tenth of the sessions); the follow feed's
#: teach it the user-account and account signals it shares.
TRANSFER: dict[str, tuple[str, dict[str, str]]] = {"new_arrival_v1": ("follow_feed_v1", _product_columns_of_posts())}


def transfer_columns(target: FeatureSet, source: FeatureSet) -> list[str | None]:
    """For each column of ``target``, the column of ``source`` that carries it (``None``: missing there)."""
    renamed = TRANSFER.get(target.name, (None, {}))[1]
    known = set(source.columns)
    return [c if c in known else renamed.get(c) for c in target.columns]


def get_feature_set(name: str) -> FeatureSet:
    """The feature set called ``name`` (raises :class:`FeatureError` naming the known sets)."""
    try:
        return FEATURE_SETS[name]
    except KeyError:
        raise FeatureError(f"unknown feature set {name!r} (known: {', '.join(FEATURE_SETS)})") from None
