"""Follower texts edited in the console, stored over ``config/texts.yaml`` (``wxbot.texts.LayeredTexts``
lays them over the file): one hash of key -> the edited text, and a version counter every process
checks (never per message) to re-layer at once. Each edit keeps the one it replaced, so ``undo``
steps back one edit at a time (``reset`` drops the key's edits: the file's text again)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ..textnorm import TEXT_LIMIT
from ..texts import check_text, placeholders
from . import keys
from .layers import VersionedLayer

UNDO_DEPTH = 10  # edits of one text that can be undone, one by one

# KEYS: overrides, version   ARGV: key, new row (JSON) or "" to drop the key, undo depth. The row
# replaced becomes the new row's "prev" (cut to the depth), in the script: two admins saving at once
# both keep their step.
_SET = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == '' then
  if not old then return {tonumber(redis.call('GET', KEYS[2]) or 0), false} end
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  local row = cjson.decode(ARGV[2])
  if old then
    local node = cjson.decode(old)
    row['prev'] = node
    for i = 2, tonumber(ARGV[3]) do
      if type(node['prev']) ~= 'table' then break end
      node = node['prev']
    end
    node['prev'] = nil
  end
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(row))
end
return {redis.call('INCR', KEYS[2]), old or false}
"""
# KEYS: overrides, version   ARGV: key
_UNDO = """
local row = redis.call('HGET', KEYS[1], ARGV[1])
if not row then return false end
local prev = cjson.decode(row)['prev']
if prev == nil or prev == cjson.null then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(prev))
end
redis.call('INCR', KEYS[2])
return row
"""


def edit_problem(key: str, text: str, allowed: set[str]) -> str | None:
    """Why ``text`` cannot replace ``key``'s text, in the admins' words (Chinese), or None: the
    placeholders ``check_text`` allows (as an edit of texts.yaml is checked), not empty, and within
    WeChat's 2048 bytes. The console and ``wxbot texts set`` refuse an edit with this."""
    try:
        check_text(key, text, allowed)
    except ValueError:
        unknown = None
        try:
            unknown = sorted(placeholders(text) - allowed)
        except ValueError:
            pass
        can = "、".join("{" + p + "}" for p in sorted(allowed)) or "不能用占位符"
        if unknown:
            return f"不认识的占位符 {{{unknown[0]}}}，这段文字能用的是：{can}。"
        return ("占位符写法不对：只能写 {名字} 这样的占位符，要显示花括号本身请写 {{ 和 }}。"
                f"这段文字能用的是：{can}。")
    if not text.strip():
        return "文字不能是空的。"
    size = len(text.encode("utf-8"))
    if size > TEXT_LIMIT:
        return f"文字太长（{size} 字节），微信一条消息最多 {TEXT_LIMIT} 字节。"
    return None


@dataclass(frozen=True)
class TextEdit:
    key: str
    text: str
    by: str
    at: float
    depth: int  # how many earlier edits an undo can step back through


class TextOverrides(VersionedLayer):
    def __init__(self, client):
        super().__init__(client, keys.texts_version())

    def set(self, key: str, text: str, by: str, now: float | None = None) -> int:
        """Store ``text`` for ``key`` over the file (validated by the caller); the new version."""
        at = time.time() if now is None else now
        row = json.dumps({"text": text, "by": by, "at": round(at, 3)}, ensure_ascii=False)
        version, _ = self.redis.eval(_SET, 2, keys.text_overrides(), keys.texts_version(), key, row, UNDO_DEPTH)
        return int(version)

    def reset(self, key: str) -> bool:
        """Drop every edit of ``key``: the file's text again. Whether there was one."""
        _, old = self.redis.eval(_SET, 2, keys.text_overrides(), keys.texts_version(), key, "", UNDO_DEPTH)
        return bool(old)

    def undo(self, key: str) -> TextEdit | None:
        """Step back one edit of ``key``; the edit undone, or None when there was none."""
        row = self.redis.eval(_UNDO, 2, keys.text_overrides(), keys.texts_version(), key)
        return _edit(key, row) if row else None

    def all(self) -> dict[str, TextEdit]:
        return {k: _edit(k, v) for k, v in self.redis.hgetall(keys.text_overrides()).items()}

    def snapshot(self) -> tuple[int, dict[str, str]]:
        """(version, key -> edited text), in one round trip."""
        version, (rows,) = self.read(keys.text_overrides())
        return version, {k: str(json.loads(v).get("text", "")) for k, v in rows.items()}


def _edit(key: str, raw) -> TextEdit:
    data = json.loads(raw)
    depth, prev = 0, data.get("prev")
    while isinstance(prev, dict):
        depth, prev = depth + 1, prev.get("prev")
    return TextEdit(key, str(data.get("text", "")), str(data.get("by", "")), float(data.get("at") or 0), depth)
