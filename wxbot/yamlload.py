"""Loading config/'s YAML files: libyaml's safe loader, built from its events without a node tree.

``yaml.load`` composes the whole document into nodes (each scalar a node with two marks) before it
constructs anything: for a 2,000-entry faq.yaml (1.5 MB) that tree peaks at ~43 MB, and the freed
nodes leave that much resident in the process. Building the same values straight from the parser's
events (one event alive at a time) peaks at ~12 MB and takes ~0.17 s instead of ~0.40 s (measured
with tracemalloc, bench/faq_bench.py's generated FAQ). Scalars are resolved and constructed by PyYAML's
own resolver and ``SafeConstructor``, so every value is the one ``yaml.load`` gives; a document using
what this does not build itself (explicit tags on collections, ``<<`` merge keys) is loaded by
``yaml.load`` instead (tests/test_yamlload.py compares the two on every file of config/ and tests/data).
"""
from __future__ import annotations

from typing import IO, Any

import yaml
from yaml import events

# libyaml's C parser is several times faster than the pure-Python one; both are "safe" loaders.
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"  # "<<"
_NO_KEY = object()


class _Unsupported(Exception):
    """The document needs the full loader (see the module docstring)."""


def load(stream: str | bytes | IO) -> Any:
    """``yaml.load(stream, Loader)``, with a lower peak of memory."""
    if hasattr(stream, "read"):
        stream = stream.read()
    try:
        return _build(stream)
    except _Unsupported:
        return yaml.load(stream, Loader=Loader)  # noqa: S506 - a safe loader


def _build(stream: str | bytes) -> Any:
    loader = Loader(stream)
    constructor = yaml.constructor.SafeConstructor()
    anchors: dict[str, Any] = {}
    stack: list[list[Any]] = []  # [container, the mapping's pending key]
    result: Any = None
    documents = 0

    def put(value: Any, anchor: str | None) -> None:
        nonlocal result
        if anchor is not None:
            anchors[anchor] = value
        if not stack:
            result = value
            return
        top = stack[-1]
        container, key = top[0], top[1]
        if isinstance(container, list):
            container.append(value)
        elif key is _NO_KEY:
            if isinstance(value, (dict, list)):
                raise _Unsupported  # a key yaml.load refuses with its own error
            top[1] = value
        else:
            container[key] = value
            top[1] = _NO_KEY

    try:
        while loader.check_event():
            ev = loader.get_event()
            if isinstance(ev, events.ScalarEvent):
                tag = ev.tag
                if tag is None or tag == "!":
                    tag = loader.resolve(yaml.ScalarNode, ev.value, ev.implicit)
                if tag == _MERGE:
                    raise _Unsupported
                if tag == _STR:
                    put(ev.value, ev.anchor)
                else:
                    node = yaml.ScalarNode(tag, ev.value, ev.start_mark, ev.end_mark, ev.style)
                    put(constructor.construct_object(node), ev.anchor)
            elif isinstance(ev, (events.MappingStartEvent, events.SequenceStartEvent)):
                if ev.tag not in (None, "!") or not ev.implicit:
                    raise _Unsupported
                container: Any = {} if isinstance(ev, events.MappingStartEvent) else []
                stack.append([container, _NO_KEY, ev.anchor])
            elif isinstance(ev, (events.MappingEndEvent, events.SequenceEndEvent)):
                container, _, anchor = stack.pop()
                put(container, anchor)
            elif isinstance(ev, events.AliasEvent):
                if ev.anchor not in anchors:
                    raise _Unsupported  # yaml.load names the undefined alias in its error
                put(anchors[ev.anchor], None)
            elif isinstance(ev, events.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    raise _Unsupported  # a second document: yaml.load refuses it with its own error
        return result
    finally:
        loader.dispose()
