"""The console's FAQ edits (edit an answer, take out an example, add an entry), layered over
``faq.yaml`` like the teachings: stored in Redis (``store.EditStore``), validated by compiling the
result exactly as a hot reload does, audited, undoable, and seen by every process at its next check.

``apply_edits`` is the one layering: the process's FAQ, the console's preview and ``wxbot faq
export`` all go through it.
"""
from __future__ import annotations

import copy
import json
from typing import Any

from pydantic import ValidationError

from ...settings import one_line
from .masking import mask
from .matcher import compile_faq
from .store import Edit, Teaching

NEW_ENTRY_FIELDS = ("topic", "question", "answer")


def apply_edits(raw: Any, edits: list[Edit]) -> Any:
    """``raw`` (parsed faq.yaml) with ``edits`` applied in order, as a copy. An edit of an entry the
    file no longer has is skipped; a new entry whose id the file has since gained gives way to it."""
    if not edits or not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        return raw
    raw = copy.deepcopy(raw)
    entries = raw["entries"]
    by_id = {e.get("id"): e for e in entries if isinstance(e, dict)}
    for edit in edits:
        if edit.kind == "entry":
            if edit.entry in by_id:
                continue
            fields = json.loads(edit.value)
            entry = {"id": edit.entry, **{k: fields[k] for k in NEW_ENTRY_FIELDS if k in fields}}
            entries.append(entry)
            by_id[edit.entry] = entry
            continue
        entry = by_id.get(edit.entry)
        if entry is None:
            continue
        if edit.kind == "answer":
            entry["answer"] = edit.value
        elif edit.kind == "unexample":
            entry["examples"] = [x for x in entry.get("examples") or [] if x != edit.value]
    return raw


def remove_teaching(knowledge, audit, number: int, actor: str, action: str) -> Teaching | None:
    """Remove teaching ``number`` (audited as ``action``, found or not); this process's FAQ is
    recompiled at once when it was there. What was removed, or None."""
    removed = knowledge.teachings.unteach(number)
    audit.record(actor, action, removed.entry if removed else "", "ok" if removed else "not_found",
                 detail=f"#{number}")
    if removed is not None:
        knowledge.refresh()
    return removed


class Editor:
    """Edits from the console (and ``wxbot faq undo``): each is validated against the FAQ it would make,
    stored, audited, and this process's FAQ recompiled at once."""

    def __init__(self, knowledge, audit):
        self.knowledge = knowledge
        self.audit = audit

    def problem(self, kind: str, entry: str, value: str) -> str | None:
        """Why the FAQ with this edit added would not load (one line, as the reload logs it), or None."""
        kn = self.knowledge
        _, taught, edits = kn.edits.layers()
        candidate = Edit(0, kind, entry, value, "", 0.0)
        try:
            compile_faq(apply_edits(kn.current_raw(), [*edits, candidate]), kn.options, taught)
        except (ValidationError, ValueError, TypeError, KeyError) as exc:
            return one_line(exc)
        return None

    def edit(self, kind: str, entry: str, value: str, actor: str) -> tuple[str, Any]:
        """("ok", edit id) | ("invalid", the reason) | ("unknown", None)."""
        kn = self.knowledge
        faq = kn.get()
        if kind == "entry":
            if entry in faq.by_id:
                return "invalid", f"entries: id {entry!r} 重复了"
        elif entry not in faq.by_id:
            return "unknown", None
        reason = self.problem(kind, entry, value)
        if reason:
            return "invalid", reason
        edit_id = kn.edits.add(kind, entry, value, actor)
        self.audit.record(actor, f"faq.edit.{kind}", entry, detail=f"#{edit_id} {mask(value, 80)}")
        kn.refresh()
        return "ok", edit_id

    def edit_answer(self, entry: str, answer: str, actor: str) -> tuple[str, Any]:
        return self.edit("answer", entry, answer.replace("\r\n", "\n").strip("\n"), actor)

    def remove_example(self, entry: str, text: str, actor: str) -> tuple[str, Any]:
        """A taught phrasing is untaught; an example of the file is taken out by an edit."""
        kn = self.knowledge
        for t in kn.teachings.all():
            if t.entry == entry and t.text == text:
                return ("ok", t.id) if remove_teaching(kn, self.audit, t.id, actor, "faq.undo") else ("unknown", None)
        return self.edit("unexample", entry, text, actor)

    def add_entry(self, entry: str, topic: str, question: str, answer: str, actor: str) -> tuple[str, Any]:
        value = json.dumps({"topic": topic.strip(), "question": question.strip(),
                            "answer": answer.replace("\r\n", "\n").strip("\n")}, ensure_ascii=False)
        return self.edit("entry", entry.strip(), value, actor)

    def undo(self, number: int, actor: str) -> Any:
        """Undo edit or teaching ``number`` (they share one sequence): what was removed, or None."""
        kn = self.knowledge
        removed = kn.edits.remove(number)
        if removed is None:
            return remove_teaching(kn, self.audit, number, actor, "faq.undo")
        self.audit.record(actor, "faq.undo", removed.entry, detail=f"#{number} {removed.kind}")
        kn.refresh()
        return removed

    def history(self) -> list[dict]:
        """Teachings and edits, newest first, for the console's list (masked like the audit log)."""
        kn = self.knowledge
        rows = [{"id": t.id, "kind": "teach", "entry": t.entry, "value": t.text, "by": t.by, "at": t.at}
                for t in kn.teachings.all()]
        rows += [{"id": e.id, "kind": e.kind, "entry": e.entry, "value": e.value, "by": e.by, "at": e.at}
                 for e in kn.edits.all()]
        return sorted(rows, key=lambda r: -r["id"])
