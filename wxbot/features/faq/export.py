"""``wxbot faq export``: faq.yaml with the Redis teachings merged into the entries' ``examples`` and the
console's edits applied (answers, removed examples, new entries), written with ruamel.yaml's round trip
so the reviewed file's comments, order and layout survive."""
from __future__ import annotations

import io
import json

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from .edits import NEW_ENTRY_FIELDS


def _text(value: str):
    return LiteralScalarString(value + "\n") if "\n" in value else value


def merged_yaml(source: str, taught: dict[str, list[str]], edits=()) -> str:
    """``source`` (faq.yaml's text) with ``edits`` applied as ``apply_edits`` does and each entry's
    taught phrasings appended to its examples (those already there are not repeated); entries that no
    longer exist are skipped."""
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(source)
    by_id = {str(e.get("id")): e for e in doc.get("entries") or []}
    for edit in edits:
        entry = by_id.get(edit.entry)
        if edit.kind == "entry" and entry is None:
            fields = json.loads(edit.value)
            entry = CommentedMap([("id", edit.entry)] + [(k, _text(fields[k])) for k in NEW_ENTRY_FIELDS if k in fields])
            doc["entries"].append(entry)
            by_id[edit.entry] = entry
        elif edit.kind == "answer" and entry is not None:
            entry["answer"] = _text(edit.value)
        elif edit.kind == "unexample" and entry is not None and edit.value in (entry.get("examples") or []):
            entry["examples"].remove(edit.value)
    for entry in doc.get("entries") or []:
        texts = taught.get(str(entry.get("id")))
        if not texts:
            continue
        examples = entry.get("examples")
        if examples is None:
            examples = entry["examples"] = CommentedSeq()
        for text in texts:
            if text not in examples:
                examples.append(text)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()
