"""``wxbot faq export``: faq.yaml with the Redis teachings merged into the entries' ``examples``, written
with ruamel.yaml's round trip so the reviewed file's comments, order and layout survive."""
from __future__ import annotations

import io

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedSeq


def merged_yaml(source: str, taught: dict[str, list[str]]) -> str:
    """``source`` (faq.yaml's text) with each entry's taught phrasings appended to its examples
    (those already there are not repeated); entries that no longer exist are skipped."""
    yaml = YAML()  # round trip
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    doc = yaml.load(source)
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
