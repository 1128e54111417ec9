"""The console's server-side SVG charts: well-formed standalone SVG, accessible names, escaped labels,
and the numbers readable back from the markup."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from wxbot.console import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def test_stacked_bars_carry_every_value_and_a_legend_of_totals():
    svg = parse(charts.stacked_bars("c1", "今天的消息", ["0时", "1时", "2时"],
                                    [charts.Bars("密码", [1, 0, 4]), charts.Bars("常见问题", [2, 3])]))
    assert svg.tag == SVG + "svg" and svg.get("role") == "img" and svg.get("aria-labelledby") == "c1-t c1-d"
    assert svg.find(SVG + "title").text == "今天的消息"
    assert svg.find(SVG + "desc").text == "密码 5 条；常见问题 5 条"
    bars = [(r.get("data-series"), r.get("data-label"), int(r.get("data-value"))) for r in svg.iter(SVG + "rect")
            if r.get("class") == "bar"]
    assert bars == [("密码", "0时", 1), ("常见问题", "0时", 2), ("常见问题", "1时", 3), ("密码", "2时", 4)]
    tips = [t.text for r in svg.iter(SVG + "rect") for t in r.findall(SVG + "title")]
    assert "2时 · 密码：4 条" in tips
    buckets = {g.get("data-label"): int(g.get("data-total")) for g in svg.iter(SVG + "g") if g.get("class") == "bucket"}
    assert buckets == {"0时": 3, "1时": 3, "2时": 4}
    legend = {g.get("data-series"): int(g.get("data-total")) for g in svg.iter(SVG + "g") if g.get("class") == "legend"}
    assert legend == {"密码": 5, "常见问题": 5}


def test_bar_heights_are_proportional_to_the_values_on_a_round_axis():
    svg = parse(charts.stacked_bars("c2", "t", ["a", "b"], [charts.Bars("s", [7, 14])]))
    heights = {r.get("data-label"): float(r.get("height")) for r in svg.iter(SVG + "rect") if r.get("class") == "bar"}
    assert abs(heights["b"] / heights["a"] - 2) < 0.01
    axis = sorted(int(t.text) for t in svg.iter(SVG + "text") if t.text and t.text.isdigit() and t.get("text-anchor") == "end")
    assert axis == [0, 10, 20]  # 14 rounds up to 20
    assert [charts.nice_max(v) for v in (0, 1, 3, 7, 12, 51, 999)] == [1, 1, 5, 10, 20, 100, 1000]


def test_labels_and_titles_are_escaped():
    evil = '<script>alert("x")</script>&'
    markup = str(charts.stacked_bars("c3", evil, [evil], [charts.Bars(evil, [1])]))
    assert "<script>" not in markup
    svg = parse(markup)
    assert svg.find(SVG + "title").text == evil
    rect = next(r for r in svg.iter(SVG + "rect") if r.get("class") == "bar")
    assert rect.get("data-series") == evil and rect.get("data-label") == evil
    row = parse(charts.hbars("c4", evil, [(evil, 2)]))
    assert next(g for g in row.iter(SVG + "g")).get("data-label") == evil


def test_an_empty_chart_is_still_a_valid_chart_that_says_so():
    svg = parse(charts.stacked_bars("c5", "空", ["0时"], []))
    assert svg.find(SVG + "desc").text == "没有数据"
    assert not [r for r in svg.iter(SVG + "rect") if r.get("class") == "bar"]
    rows = parse(charts.hbars("c6", "空", []))
    assert rows.find(SVG + "desc").text == "没有数据"


def test_horizontal_bars_show_each_row_and_its_count():
    svg = parse(charts.hbars("c7", "待处理的工单", [("1 小时内", 3), ("1-6 小时", 0), ("3 天以上", 6)]))
    rows = {g.get("data-label"): int(g.get("data-value")) for g in svg.iter(SVG + "g") if g.get("class") == "row"}
    assert rows == {"1 小时内": 3, "1-6 小时": 0, "3 天以上": 6}
    widths = {r.get("data-label"): float(r.get("width")) for r in svg.iter(SVG + "rect")}
    assert widths["1-6 小时"] == 0 and abs(widths["3 天以上"] / widths["1 小时内"] - 2) < 0.01
    assert svg.find(SVG + "desc").text == "1 小时内 3 个；1-6 小时 0 个；3 天以上 6 个"
