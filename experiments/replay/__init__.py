"""Replay a logged day through a new policy, offline (``weitao replay``).

* :mod:`experiments.replay.data`: the tables and point-in-time look-ups (nothing at or after a request time).
* :mod:`experiments.replay.pages`: the day's pages (page log or impression events) and their candidates.
* :mod:`experiments.replay.rankers`, :mod:`experiments.replay.models`: the new policies and the re-ranking.
* :mod:`experiments.replay.estimate`: logged metrics, and the new policy's, exact or off-policy (DR / IPW).
* :mod:`experiments.replay.exposure`: impression shares by account kind and tier.
* :mod:`experiments.replay.gate`: the amplification gate re-run with other settings, against the log.
* :mod:`experiments.replay.check`: on the simulated world, the estimate against the policy run in closed loop.
* :mod:`experiments.replay.run`, :mod:`experiments.replay.report`: one replay, and its JSON and Markdown.
"""
