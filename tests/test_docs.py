"""The docs a newcomer reads: the README stays a front door, every `wxbot …` command printed in README.md
and docs/ exists with the options it shows, configuration.md covers every setting, links resolve."""
from __future__ import annotations

import re

import click
import pytest

from helpers.env import ROOT
from wxbot.cli import main
from wxbot.policy import BotConfig
from wxbot.settings import Settings

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
COMMAND = re.compile(r"(?<![\w./-])(?:\.venv/bin/|/[\w/.-]+/bin/)?wxbot((?: +[^\s#`|;&)>]+)+)")
# what may stand before a command: nothing, a prompt, a shell operator, environment assignments
COMMAND_POSITION = re.compile(r"^\s*(?:.*(?:&&|\|\||[|;(]|\$)\s*)?(?:\w+=\S*\s+)*$")


def code_snippets(text: str) -> list[str]:
    out = []
    for block, inline in CODE.findall(text):
        out.extend((block or inline).splitlines())
    return out


def check_command(words: list[str]) -> str | None:
    """None if ``wxbot WORDS`` names existing commands and options, else what is wrong."""
    cmd: click.Command = main
    path = ["wxbot"]
    for word in words:
        if word in ("…", "..."):
            return None  # "wxbot tickets …": the group, whatever follows
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            if name not in {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}:
                return f"`{' '.join(path)}` has no option {name}"
            continue
        if isinstance(cmd, click.Group):
            sub = cmd.get_command(click.Context(cmd), word)
            if sub is None:
                return f"`{' '.join(path)}` has no command {word!r}"
            cmd, path = sub, [*path, word]
            continue
        if cmd.name == "redis-cli":
            return None  # the rest goes to redis-cli
    return None


def mentions():
    for doc in DOCS:
        for line in code_snippets(doc.read_text(encoding="utf-8")):
            line = re.split(r"\s#\s", line, maxsplit=1)[0]  # a shell comment is prose
            for m in COMMAND.finditer(line):
                if not COMMAND_POSITION.match(line[:m.start()]):
                    continue
                words = m.group(1).split()
                if words and (words[0].startswith("-") or re.fullmatch(r"[a-z][a-z-]*", words[0])):
                    yield doc.relative_to(ROOT), line.strip(), words


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200
    text = "\n".join(lines)
    assert ".venv/bin/wxbot init && .venv/bin/wxbot serve" in text
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci in text  # the suite's quick-start command is the one CI runs


def test_every_wxbot_command_in_the_docs_exists():
    found = list(mentions())
    assert len(found) > 40  # the check sees the docs' commands
    problems = [f"{doc}: {line}: {why}" for doc, line, words in found if (why := check_command(words))]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("words, why", [
    (["serve", "--demo"], "no option --demo"), (["tickets", "delete"], "no command 'delete'"),
    (["password", "show"], None), (["-v", "tickets", "reply", "--reopen", "X", "hi"], None),
])
def test_the_docs_check_catches_a_missing_command(words, why):
    got = check_command(words)
    assert (got is None) if why is None else (why in got)


def bot_yaml_keys() -> list[str]:
    """Every key of bot.yaml: ``section.key``, and top-level settings (``timezone``) by name."""
    return [f"{section}.{key}" if hasattr(f.annotation, "model_fields") else section
            for section, f in BotConfig.model_fields.items()
            for key in (getattr(f.annotation, "model_fields", None) or [section])]


def test_configuration_md_covers_every_setting():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [f.alias for f in Settings.model_fields.values() if f"`{f.alias}`" not in text]
    missing += [key for key in bot_yaml_keys() if f"`{key}`" not in text]
    assert not missing, f"docs/configuration.md does not describe: {missing}"


def test_links_between_docs_resolve():
    broken = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if not (doc.parent / target).exists():
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert not broken, broken
