"""``GET /accounts/{id}/insights``: what a seller sees of an account and its posts, and why.

Numbers come from the same online features the models read (so a seller sees what the ranker sees): fans,
the account's baselines, the LINK+ funnel and the 30-day fan revisit rate (:mod:`.funnel`), the best posting
hour with its uncertainty (:mod:`.hours`), tier and state with what the next tier needs (:mod:`.tier`), the
amplification history of its posts with the gate's reasons (:mod:`.amplification`), every figure beside the
quartiles of its tier's and its category's peers (:mod:`.peers`), and per post the fan and non-fan reach,
engagement and hotlist status (:mod:`.body`). For a fans-only post not on the hotlist, the gate's criteria
are spelled out with the post's own numbers, so the seller can tell what is missing.
"""

from serving.insights.body import UnknownAccount, account_insights
from serving.insights.peers import PeerCache

__all__ = ["PeerCache", "UnknownAccount", "account_insights"]
