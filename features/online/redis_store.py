"""The Redis online store: counters shared by every service replica.

Layout, under ``{prefix}:{namespace}`` (the namespace carries the feature set's fingerprint and bucket width):

* ``…:c{counter}:{key}``: one hash per (counter, entity key) with a field per bucket ``h{b}``, per day of
  buckets ``d{b // 24}`` and, for counters read since the beginning, the running total ``t``. A window is the
  day fields it covers whole plus the bucket fields at its two ends (at most ~80 fields for 30 days); a read
  since the beginning is ``t`` minus the buckets at or after the request's.
* ``…:hw:c{counter}``: the counter's newest bucket ever written (what "at or after" has to subtract).
* ``…:seen:{space}[:{bucket}]``: sets of seen event ids (expiring) and of repeat (user, account) pairs.

The HINCRBYs of a batch and the HMGETs of many window reads run inside Lua scripts, thousands per round trip
(one pipelined command per field from Python would cost more than the counting itself). The increment script
also drops the bucket and day fields of whole days older than the counter's ``keep`` behind the stream's
clock (one HDEL per day), and keys never read since the beginning expire after ``keep`` (wall clock) without
writes.
"""

from __future__ import annotations

import numpy as np
import redis

from features.counts import CountTable
from features.definitions import ALL
from features.online.base import StoreLayout, check_read

_INCREMENT = """
local ttl = tonumber(ARGV[1]); local cut = tonumber(ARGV[2]); local totals = ARGV[3] == '1'
local n = #KEYS - 1
local top = nil
local cutday = math.floor(cut / 24)
for i = 1, n do
  local key = KEYS[i]
  local b = tonumber(ARGV[2 + 2 * i]); local v = tonumber(ARGV[3 + 2 * i])
  redis.call('HINCRBY', key, 'h' .. b, v)
  redis.call('HINCRBY', key, 'd' .. math.floor(b / 24), v)
  if totals then redis.call('HINCRBY', key, 't', v) end
  if cut >= 0 then
    -- 'p' is the first day not yet pruned; whole days before the cut go, one HDEL per day.
    local p = tonumber(redis.call('HGET', key, 'p'))
    if p == nil then
      redis.call('HSET', key, 'p', cutday)
    elseif p < cutday then
      for d = p, cutday - 1 do
        local f = {'d' .. d}
        for h = d * 24, d * 24 + 23 do f[#f + 1] = 'h' .. h end
        redis.call('HDEL', key, unpack(f))
      end
      redis.call('HSET', key, 'p', cutday)
    end
  end
  if ttl > 0 then redis.call('EXPIRE', key, ttl) end
  if top == nil or b > top then top = b end
end
if top ~= nil then
  local hw = tonumber(redis.call('GET', KEYS[#KEYS]))
  if hw == nil or top > hw then redis.call('SET', KEYS[#KEYS], top) end
end
return n
"""

_READ = """
local hwv = redis.call('GET', KEYS[#KEYS])
local hw = nil
if hwv then hw = tonumber(hwv) end
local lists = {}
-- Field names of the buckets [lo, hi): whole days as day fields, the ends as bucket fields (cached per call).
local function fields(lo, hi)
  local id = lo .. ':' .. hi
  local f = lists[id]
  if f then return f end
  f = {}
  local d1 = math.ceil(lo / 24); local d2 = math.floor(hi / 24)
  if d1 >= d2 then
    for b = lo, hi - 1 do f[#f + 1] = 'h' .. b end
  else
    for b = lo, d1 * 24 - 1 do f[#f + 1] = 'h' .. b end
    for d = d1, d2 - 1 do f[#f + 1] = 'd' .. d end
    for b = d2 * 24, hi - 1 do f[#f + 1] = 'h' .. b end
  end
  lists[id] = f
  return f
end
local function range(key, lo, hi)
  if lo >= hi then return 0 end
  local f = fields(lo, hi)
  local s = 0
  for i = 1, #f, 4000 do
    local vals = redis.call('HMGET', key, unpack(f, i, math.min(i + 3999, #f)))
    for _, v in ipairs(vals) do if v then s = s + tonumber(v) end end
  end
  return s
end
local out = {}
for i = 1, #KEYS - 1 do
  local key = KEYS[i]
  local lo = ARGV[2 * i - 1]; local hi = tonumber(ARGV[2 * i])
  if lo == 'a' then
    local t = tonumber(redis.call('HGET', key, 't') or '0')
    local later = 0
    if hw ~= nil and hw >= hi then later = range(key, hi, hw + 1) end
    out[i] = t - later
  else
    out[i] = range(key, tonumber(lo), hi)
  end
end
return out
"""

_ADD_NEW = """
local ttl = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do out[i - 1] = redis.call('SADD', KEYS[1], ARGV[i]) end
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return out
"""


class RedisStore:
    """Counters and seen-sets of one feature set in Redis (see the module docstring for the layout)."""

    def __init__(self, layout: StoreLayout, url: str, prefix: str = "weitao:features", chunk: int = 2000,
                 timeout_s: float | None = None) -> None:
        self.layout = layout
        # A bounded wait: a hung server must fail the call (the service then falls back), not hang it.
        self._r = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._ns = f"{prefix}:{layout.namespace}"
        self._chunk = chunk
        self._increment = self._r.register_script(_INCREMENT)
        self._read = self._r.register_script(_READ)
        self._add_new = self._r.register_script(_ADD_NEW)

    def _keys(self, counter: int, keys: np.ndarray) -> list[str]:
        base = f"{self._ns}:c{counter}:"
        return [base + str(k) for k in keys.tolist()]

    def increment(self, counter: int, keys: np.ndarray, buckets: np.ndarray, values: np.ndarray,
                  now: int | None = None) -> None:
        if not len(keys):
            return
        keys, buckets, values = CountTable.aggregate(keys, buckets, values).entries()
        keep = self.layout.keep[counter]
        totals = self.layout.totals[counter]
        ttl = 0 if totals else keep * self.layout.bucket_ms // 1000 + 86_400
        cut = -1 if now is None else max(now - keep, 0)
        names = self._keys(counter, keys)
        pairs = np.column_stack([buckets, values]).ravel().tolist()
        for s in range(0, len(names), self._chunk):
            e = min(s + self._chunk, len(names))
            self._increment(keys=[*names[s:e], f"{self._ns}:hw:c{counter}"],
                            args=[ttl, cut, int(totals), *pairs[2 * s:2 * e]])

    def window_sums(self, counter: int, keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        check_read(self.layout, counter, lo)
        if not len(keys):
            return np.zeros(0, dtype=np.int64)
        # Rows of one request share reads; ask Redis once per distinct (key, window).
        triples = np.column_stack([np.asarray(keys, np.int64), np.asarray(lo, np.int64), np.asarray(hi, np.int64)])
        uniq, inverse = np.unique(triples, axis=0, return_inverse=True)
        names = self._keys(counter, uniq[:, 0])
        args = [("a" if lo_ <= ALL else lo_, hi_) for lo_, hi_ in uniq[:, 1:].tolist()]
        out: list[int] = []
        for s in range(0, len(names), self._chunk):
            e = min(s + self._chunk, len(names))
            flat = [x for pair in args[s:e] for x in pair]
            out += self._read(keys=[*names[s:e], f"{self._ns}:hw:c{counter}"], args=flat)
        return np.asarray(out, dtype=np.int64)[inverse.ravel()]

    def add_new(self, space: str, members: np.ndarray, buckets: np.ndarray | None = None) -> np.ndarray:
        members = np.asarray(members, np.int64)
        new = np.zeros(len(members), dtype=bool)
        at = np.zeros(len(members), np.int64) if buckets is None else np.asarray(buckets, np.int64)
        ttl = 0 if buckets is None else self.layout.dedup_buckets * self.layout.bucket_ms // 1000
        for b in np.unique(at).tolist():
            pos = np.flatnonzero(at == b)
            key = f"{self._ns}:seen:{space}" + ("" if buckets is None else f":{b}")
            for s in range(0, len(pos), self._chunk):
                part = pos[s:s + self._chunk]
                flags = self._add_new(keys=[key], args=[ttl, *members[part].tolist()])
                new[part] = np.asarray(flags, dtype=np.int64) == 1
        return new

    def healthy(self) -> bool:
        try:
            return bool(self._r.ping())
        except redis.RedisError:
            return False

    def clear(self) -> None:
        batch = []
        for key in self._r.scan_iter(match=f"{self._ns}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self._r.unlink(*batch)
                batch = []
        if batch:
            self._r.unlink(*batch)

    def close(self) -> None:
        self._r.close()
