"""wxbot.yamlload gives what yaml.load with the safe loader gives, on real files and on edge cases."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from wxbot import yamlload
from wxbot.folder import shipped_config

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*shipped_config().glob("*.yaml"), *(ROOT / "tests" / "data").glob("*.yaml")])


def safe(text):
    return yaml.load(text, Loader=yamlload.Loader)  # noqa: S506 - a safe loader


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_config_and_data_file_loads_as_yaml_load_gives_it(path):
    text = path.read_bytes()
    assert yamlload.load(text) == safe(text)
    with open(path, "rb") as fh:
        assert yamlload.load(fh) == safe(text)


CASES = [
    "a: 1\nb: 1.5\nc: true\nd: null\ne: '1'\nf: 2026-12-01\ng: 0x1f\nh: ~\ni: .inf\n",
    "- [1, two, {three: 3}]\n- {}\n- []\n- ''\n",
    "x: &a [1, 2]\ny: *a\nz: &b hello\nw: *b\n",
    "a: 1\na: 2\n",  # a repeated key: the last one, as yaml.load
    "? complex\n: value\n'42': str key\n42: int key\n",
    "!!str 12: !!int '7'\nlist: !!seq [1]\n",  # explicit tags (on a collection: the full loader)
    "base: &base {a: 1}\nchild:\n  <<: *base\n  b: 2\n",  # a merge key: the full loader
    "",
    "just a scalar",
    "text: |\n  line one\n  line two\nfolded: >\n  one\n  two\n",
    "bin: !!binary aGVsbG8=\n",
]


@pytest.mark.parametrize("text", CASES)
def test_edge_cases_load_the_same(text):
    assert yamlload.load(text) == safe(text)


@pytest.mark.parametrize("text", ["a: [1, 2\n", "a: *missing\n", "--- 1\n--- 2\n", "a:\n  - 1\n b: 2\n",
                                  "? [1, 2]\n: unhashable key\n"])
def test_broken_yaml_raises_what_yaml_load_raises(text):
    with pytest.raises(yaml.YAMLError) as expected:
        safe(text)
    with pytest.raises(type(expected.value)) as got:
        yamlload.load(text)
    assert str(got.value) == str(expected.value)
