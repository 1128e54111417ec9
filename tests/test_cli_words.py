"""The CLI speaks Chinese to admins, click's own words included (usage, help headings, usage errors);
command and option names, and the exit codes, stay as they are."""
from __future__ import annotations

from click.testing import CliRunner

from wxbot.cli import main


def wxbot(*args: str):
    return CliRunner().invoke(main, list(args), prog_name="wxbot")


def test_help_is_chinese_and_keeps_the_names():
    res = wxbot("tickets", "list", "--help")
    assert res.exit_code == 0
    assert res.output.startswith("用法: wxbot tickets list [OPTIONS]")
    assert "选项:" in res.output and "--status [active|open|replied|closed|dead|all]" in res.output
    assert "显示这段帮助并退出。" in res.output and "[默认：50; 1<=x<=10000]" in res.output


def test_usage_errors_are_chinese_and_exit_2():
    res = wxbot("tickets", "release")
    assert res.exit_code == 2
    assert "运行 'wxbot tickets release --help' 查看帮助。" in res.output
    assert "错误：请给出工单号，或者加 --all" in res.output
    res = wxbot("tickets", "list", "--status", "bogus")
    assert res.exit_code == 2 and "错误：'--status' 的值无效：'bogus' 不是 " in res.output
    res = wxbot("no-such-command")
    assert res.exit_code == 2 and "错误：没有命令 'no-such-command'。" in res.output
