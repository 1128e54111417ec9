"""Redis state laid over a file of ``config/`` (the FAQ's teachings and edits, the edited texts): hashes
that change together with a version counter, which every process checks with its file mtime check
(never per message) and re-lays the file when it moved."""
from __future__ import annotations


class VersionedLayer:
    """The version counter ``version_key`` of one or more hashes, and their consistent read."""

    def __init__(self, client, version_key: str):
        self.redis = client
        self.version_key = version_key

    def version(self) -> int:
        return int(self.redis.get(self.version_key) or 0)

    def read(self, *hashes: str) -> tuple[int, list[dict[str, str]]]:
        """(version, each hash's fields) in one round trip, as of one moment."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.get(self.version_key)
        for key in hashes:
            pipe.hgetall(key)
        version, *rows = pipe.execute()
        return int(version or 0), rows
