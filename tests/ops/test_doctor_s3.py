"""``wxbot doctor`` says where screenshots are kept and, with WXBOT_S3_*, whether the bucket answers
(a real S3 server on 127.0.0.1); settings refuse a half-configured bucket; no key is ever printed."""
from __future__ import annotations

import io
import sys

import pytest

from helpers.env import NOWHERE, make_env
from helpers.s3 import ACCESS_KEY, SECRET_KEY
from wxbot import doctor
from wxbot.settings import ConfigError, Settings


def screenshots_line(env: dict) -> tuple[str, str]:
    out = io.StringIO()
    doctor.main(env, out=out, timeout=0.5)
    found = [ln for ln in out.getvalue().splitlines() if ln[2:].startswith("screenshots:")]
    assert len(found) == 1, out.getvalue()
    return found[0], out.getvalue()


@pytest.fixture
def base(tmp_path, config_dir) -> dict:
    return make_env("redis://127.0.0.1:1/0", config_dir, tmp_path / "data")


def test_without_a_bucket_screenshots_are_kept_in_redis(base):
    line, _ = screenshots_line(base)
    assert line.startswith("✓") and "Redis" in line and "保留 90 天" in line


def test_a_reachable_bucket_passes_and_no_key_is_printed(base, s3_server):
    bucket = s3_server.new_bucket()
    line, out = screenshots_line({**base, **s3_server.env(bucket)})
    assert line.startswith("✓") and bucket in line and s3_server.url in line
    assert SECRET_KEY not in out and ACCESS_KEY not in out


def test_a_missing_bucket_or_a_dead_endpoint_fails_with_what_to_do(base, s3_server):
    line, out = screenshots_line({**base, **s3_server.env("never-created-bucket")})
    assert line.startswith("✗") and "上没有存储桶" in line and "先建好存储桶" in line
    line, out = screenshots_line({**base, **s3_server.env("x-bucket"), "WXBOT_S3_ENDPOINT": NOWHERE})
    assert line.startswith("✗") and "连不上" in line and SECRET_KEY not in out


def test_a_half_configured_bucket_is_named(base, s3_server):
    env = {**base, **s3_server.env("x-bucket")}
    del env["WXBOT_S3_SECRET_KEY"]
    line, out = screenshots_line(env)
    assert line.startswith("✗") and "WXBOT_S3_SECRET_KEY" in line and ACCESS_KEY not in out
    with pytest.raises(ConfigError, match="WXBOT_S3_SECRET_KEY"):
        Settings.from_env(env)


def test_an_endpoint_with_a_path_or_a_bad_bucket_name_is_refused(base, s3_server):
    env = {**base, **s3_server.env("x-bucket")}
    with pytest.raises(ConfigError, match="WXBOT_S3_ENDPOINT"):
        Settings.from_env({**env, "WXBOT_S3_ENDPOINT": s3_server.url + "/x-bucket"})
    with pytest.raises(ConfigError, match="WXBOT_S3_BUCKET"):
        Settings.from_env({**env, "WXBOT_S3_BUCKET": "Not_A_Bucket"})
    assert Settings.from_env(env).s3_enabled and SECRET_KEY not in repr(Settings.from_env(env))


def test_without_the_s3_client_the_doctor_names_the_extra_and_the_app_does_not_start(base, s3_server, monkeypatch):
    from wxbot.features.tickets.shots import build_screenshots

    env = {**base, **s3_server.env(s3_server.new_bucket())}
    monkeypatch.setitem(sys.modules, "minio", None)  # as when `wxbot[s3]` was not installed
    line, _ = screenshots_line(env)
    assert line.startswith("✗") and "pip install 'wxbot[s3]'" in line
    with pytest.raises(ConfigError, match=r"wxbot\[s3\]"):
        build_screenshots(None, None, Settings.from_env(env), 60, 1.0, 100)
