"""Why the gate did what it did, as codes for logs and as sentences a seller understands."""

from __future__ import annotations

from enum import IntEnum


class Reason(IntEnum):
    """The deciding reason of a post's last evaluation (one per post per decision)."""

    WAITING = 0
    H1 = 1
    OFFICIAL = 2
    TOO_OLD = 3
    MISSING_DATA = 4
    LOCKSTEP = 5
    NEED_FAN_IMPRESSIONS = 6
    FAN_SIGNAL_LOW = 7
    PROBE_FULL = 8
    PROBED = 9
    NEED_PROBE_IMPRESSIONS = 10
    PUBLIC_SIGNAL_LOW = 11
    AMPLIFIER_LOW = 12
    PROMOTED = 13
    POOL_FULL = 14
    AUTHOR_CAP = 15
    DEMOTED = 16
    PROBE_ENDED = 17
    HOLDING = 18
    KIND_BUDGET = 19


TEMPLATES: dict[Reason, str] = {
    Reason.WAITING: "waiting for its first data",
    Reason.H1: "the account is in the penalty box (H1), so its posts stay with its fans",
    Reason.OFFICIAL: "official posts are public from the start",
    Reason.TOO_OLD: "the post is older than {max_age:.0f} hours, past the window for amplification",
    Reason.MISSING_DATA: "the account's tier or kind is unknown, so the post stays private until it is known",
    Reason.LOCKSTEP: "{lockstep:.0%} of its engagement came from accounts acting in lockstep (suspected click "
                     "farm), more than the {lockstep_max:.0%} allowed",
    Reason.NEED_FAN_IMPRESSIONS: "fans have seen it {fan_imp:.0f} times; {need:.0f} views are needed before it "
                                 "can be tested with non-fans",
    Reason.FAN_SIGNAL_LOW: "fans engaged at {fan_rate:.1%} (at least {fan_lcb:.1%} with 95 % confidence), below "
                           "the {need_rate:.1%} expected for this account, tier, kind and format",
    Reason.PROBE_FULL: "it qualified for a test with non-fans, but this hour's test slots were taken by posts "
                       "with stronger signals",
    Reason.PROBED: "fans liked it (at least {fan_lcb:.1%} vs {need_rate:.1%} expected), so it is being tested "
                   "with a small random audience of non-fans",
    Reason.NEED_PROBE_IMPRESSIONS: "being tested with non-fans: {probe_imp:.0f} of {need:.0f} views so far",
    Reason.PUBLIC_SIGNAL_LOW: "non-fans engaged at {pub_rate:.1%} (at least {pub_lcb:.1%}), below the "
                              "{need_rate:.1%} needed to reach the public pools",
    Reason.AMPLIFIER_LOW: "the model predicts a public lift of {amplifier:+.2f}, below the {need:+.2f} needed",
    Reason.PROMOTED: "moved up to {level} because its engagement (at least {pub_lcb:.1%}) beat the public "
                     "baseline ({baseline:.1%}) by enough",
    Reason.POOL_FULL: "qualified for {level}, but it is full with posts performing better",
    Reason.AUTHOR_CAP: "qualified, but the account already has {cap} posts in the public pools",
    Reason.DEMOTED: "moved down to {level}: public engagement fell (at most {pub_ucb:.1%} vs a {baseline:.1%} "
                    "baseline)",
    Reason.PROBE_ENDED: "the test with non-fans ended after {probe_imp:.0f} views without enough engagement",
    Reason.HOLDING: "holding at {level}: performing as expected, gathering more views",
    Reason.KIND_BUDGET: "qualified, but this hour's promotions for its account kind are used up",
}


def sentence(reason: int, **numbers: float | int | str) -> str:
    """Render a reason with the numbers it names (missing numbers render as '?')."""
    template = TEMPLATES[Reason(reason)]
    try:
        return template.format(**numbers)
    except (KeyError, ValueError):
        return template.split("{")[0].rstrip(" ,:(") + " (details unavailable)"
