"""DOKU_RATE_LIMIT: the environment wins over the [doku] table of secrets.toml, unset
means no shared limit, and a bad value is one clear ConfigurationError line."""

from __future__ import annotations

import pytest

from doku.errors import ConfigurationError
from doku.settings import load_settings, normalize_secrets, parse_rate_limit


def test_unset_or_blank_means_no_shared_limit() -> None:
    assert load_settings(environ={}, secrets={}).rate_limit is None
    assert load_settings(environ={"DOKU_RATE_LIMIT": "  "}, secrets={}).rate_limit is None


def test_the_environment_wins_over_the_secrets_table() -> None:
    secrets = normalize_secrets({"rate_limit": 50})
    assert load_settings(environ={}, secrets=secrets).rate_limit == 50.0
    assert load_settings(environ={"DOKU_RATE_LIMIT": "12.5"}, secrets=secrets).rate_limit == 12.5
    from_table = normalize_secrets({"DOKU_RATE_LIMIT": "7"})
    assert load_settings(environ={}, secrets=from_table).rate_limit == 7.0


def test_it_is_kept_for_sandbox_settings_and_a_resolved_base_url() -> None:
    settings = load_settings(
        environ={"DOKU_ENV": "sandbox", "DOKU_CLIENT_ID": "MCH-1", "DOKU_SECRET_KEY": "SK",
                 "DOKU_RATE_LIMIT": "30"}, secrets={})
    assert settings.rate_limit == 30.0
    assert settings.with_base_url("http://127.0.0.1:9").rate_limit == 30.0


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "1e400", "True", "5 rps"])
def test_a_bad_value_is_one_clear_line(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(environ={"DOKU_RATE_LIMIT": value}, secrets={})
    assert str(caught.value) == (
        "configuration error: DOKU_RATE_LIMIT must be a positive number of requests per "
        f"second (for example 50), not {value!r}")


def test_a_long_bad_value_is_shortened() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_rate_limit("x" * 100)
    assert str(caught.value).endswith(f"not {'x' * 40 + '...'!r}")
