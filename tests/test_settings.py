"""Unit tests of doku.settings: precedence, defaults, validation, secret hygiene."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from doku.errors import ConfigurationError
from doku.settings import (
    BASE_URLS,
    SIMULATOR_CLIENT_ID,
    SIMULATOR_SECRET_KEY,
    SecretKey,
    Settings,
    load_settings,
    read_secrets_table,
)

SECRET = "SK-very-secret-value-123"
CLIENT = "MCH-0123-4567890123"


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DOKU_* from the developer's shell, no secrets.toml from the checkout."""
    for key in ("DOKU_CLIENT_ID", "DOKU_SECRET_KEY", "DOKU_ENV", "DOKU_BASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)


def write_secrets(root: Path, body: str) -> Path:
    path = root / ".streamlit" / "secrets.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body, encoding="utf-8")
    return path


# --- defaults -----------------------------------------------------------------------


def test_simulator_when_nothing_is_configured() -> None:
    settings = load_settings(environ={}, secrets={})
    assert settings.env == "simulator"
    assert settings.uses_simulator
    assert settings.base_url is None
    assert settings.client_id == SIMULATOR_CLIENT_ID
    assert settings.secret_key.reveal() == SIMULATOR_SECRET_KEY
    assert settings.source == "defaults"
    assert not settings.require_response_signature


def test_simulator_from_real_process_environment_and_no_secrets_file() -> None:
    # The autouse fixture cleared DOKU_* and moved to an empty directory.
    settings = load_settings()
    assert settings.uses_simulator
    assert settings.source == "defaults"


def test_credentials_without_env_mean_sandbox() -> None:
    settings = load_settings(
        environ={"DOKU_CLIENT_ID": CLIENT, "DOKU_SECRET_KEY": SECRET}, secrets={}
    )
    assert settings.env == "sandbox"
    assert settings.base_url == BASE_URLS["sandbox"]
    assert settings.require_response_signature
    assert settings.source == "environment"


def test_production_uses_production_url() -> None:
    settings = load_settings(
        environ={"DOKU_ENV": "PRODUCTION", "DOKU_CLIENT_ID": CLIENT, "DOKU_SECRET_KEY": SECRET},
        secrets={},
    )
    assert settings.env == "production"
    assert settings.base_url == BASE_URLS["production"]


# --- precedence ---------------------------------------------------------------------


def test_environment_wins_over_secrets_table() -> None:
    secrets = {
        "DOKU_ENV": "production",
        "DOKU_CLIENT_ID": "MCH-FROM-SECRETS-0000",
        "DOKU_SECRET_KEY": "SK-from-secrets",
    }
    environ = {"DOKU_ENV": "sandbox", "DOKU_CLIENT_ID": CLIENT}
    settings = load_settings(environ=environ, secrets=secrets)
    assert settings.env == "sandbox"
    assert settings.client_id == CLIENT
    # Not set in the environment: falls back to the secrets table.
    assert settings.secret_key.reveal() == "SK-from-secrets"
    assert settings.source == "environment"


def test_blank_environment_value_does_not_hide_secrets_value() -> None:
    secrets = {"DOKU_ENV": "sandbox", "DOKU_CLIENT_ID": CLIENT, "DOKU_SECRET_KEY": SECRET}
    settings = load_settings(environ={"DOKU_CLIENT_ID": "   "}, secrets=secrets)
    assert settings.client_id == CLIENT
    assert settings.source == "secrets.toml"


def test_secrets_file_in_cwd_is_read_and_environment_still_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_secrets(
        tmp_path,
        f'[doku]\nenv = "sandbox"\nclient_id = "{CLIENT}"\nsecret_key = "{SECRET}"\n',
    )
    from_file = load_settings()
    assert from_file.env == "sandbox"
    assert from_file.client_id == CLIENT
    assert from_file.source == "secrets.toml"

    monkeypatch.setenv("DOKU_ENV", "simulator")
    from_env = load_settings()
    assert from_env.env == "simulator"
    assert from_env.source == "environment"


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize("env", ["sandbox", "production"])
def test_real_environment_without_secret_key_names_it(env: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"DOKU_ENV": env, "DOKU_CLIENT_ID": CLIENT}, secrets={})
    assert "DOKU_SECRET_KEY" in str(info.value)
    assert "DOKU_CLIENT_ID" not in str(info.value)


def test_real_environment_without_anything_names_both() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"DOKU_ENV": "sandbox"}, secrets={})
    assert "DOKU_CLIENT_ID" in str(info.value)
    assert "DOKU_SECRET_KEY" in str(info.value)


def test_error_never_contains_the_secret() -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"DOKU_ENV": "sandbox", "DOKU_SECRET_KEY": SECRET}, secrets={})
    assert SECRET not in str(info.value)
    assert SECRET not in repr(info.value)


@pytest.mark.parametrize("env", ["staging", "prod", "live", "sandbox2"])
def test_unknown_env_rejected(env: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        load_settings(environ={"DOKU_ENV": env}, secrets={})
    assert "DOKU_ENV" in str(info.value)
    assert env in str(info.value)


def test_base_url_override() -> None:
    settings = load_settings(
        environ={
            "DOKU_ENV": "sandbox",
            "DOKU_CLIENT_ID": CLIENT,
            "DOKU_SECRET_KEY": SECRET,
            "DOKU_BASE_URL": "http://127.0.0.1:9999/",
        },
        secrets={},
    )
    assert settings.base_url == "http://127.0.0.1:9999"


def test_base_url_override_on_simulator_points_at_external_simulator() -> None:
    settings = load_settings(environ={"DOKU_BASE_URL": "http://127.0.0.1:9999"}, secrets={})
    assert settings.uses_simulator
    assert settings.base_url == "http://127.0.0.1:9999"


def test_base_url_must_be_http() -> None:
    with pytest.raises(ConfigurationError, match="DOKU_BASE_URL"):
        load_settings(environ={"DOKU_BASE_URL": "api.doku.com"}, secrets={})


def test_with_base_url_keeps_everything_else() -> None:
    settings = load_settings(environ={}, secrets={}).with_base_url("http://127.0.0.1:1234")
    assert settings.base_url == "http://127.0.0.1:1234"
    assert settings.env == "simulator"
    assert settings.secret_key.reveal() == SIMULATOR_SECRET_KEY


# --- secrets.toml [doku] table ------------------------------------------------------


def test_read_secrets_table_normalises_names(tmp_path: Path) -> None:
    path = write_secrets(
        tmp_path,
        "TOP_LEVEL = 'ignored'\n"
        "[doku]\n"
        f"client_id = '{CLIENT}'\n"
        f"DOKU_SECRET_KEY = '{SECRET}'\n"
        "env = 'sandbox'\n"
        "Base_Url = 'https://example.test'\n"
        "[other]\nclient_id = 'not ours'\n",
    )
    assert read_secrets_table(path) == {
        "DOKU_CLIENT_ID": CLIENT,
        "DOKU_SECRET_KEY": SECRET,
        "DOKU_ENV": "sandbox",
        "DOKU_BASE_URL": "https://example.test",
    }


def test_read_secrets_table_missing_file_or_table(tmp_path: Path) -> None:
    assert read_secrets_table(tmp_path / "nope.toml") == {}
    assert read_secrets_table() == {}  # cwd is an empty tmp dir
    path = write_secrets(tmp_path, "[other]\nkey = 1\n")
    assert read_secrets_table(path) == {}


def test_read_secrets_table_rejects_bad_toml_and_non_table(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[doku\nclient_id = ", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="cannot read"):
        read_secrets_table(bad)
    not_table = tmp_path / "not_table.toml"
    not_table.write_text("doku = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="not a table"):
        read_secrets_table(not_table)


# --- SecretKey ----------------------------------------------------------------------


def test_secret_key_never_shows_its_value() -> None:
    key = SecretKey(SECRET)
    percent = "%s %r" % (key, key)  # noqa: UP031 - logging formats with %
    for text in (repr(key), str(key), f"{key}", f"{key!r}", f"{key:>40}", percent):
        assert SECRET not in text
        assert "****" in text
    assert key.reveal() == SECRET
    assert bool(key)
    assert not SecretKey("")


def test_settings_repr_does_not_leak_secret() -> None:
    settings = load_settings(
        environ={"DOKU_ENV": "sandbox", "DOKU_CLIENT_ID": CLIENT, "DOKU_SECRET_KEY": SECRET},
        secrets={},
    )
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_secret_key_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SecretKey(SECRET))


def test_secret_key_equality_and_hash() -> None:
    assert SecretKey("a") == SecretKey("a")
    assert SecretKey("a") != SecretKey("b")
    assert SecretKey("a") != "a"
    assert len({SecretKey("a"), SecretKey("a")}) == 1


@given(st.text(min_size=1))
def test_secret_key_hides_any_value(value: str) -> None:
    masked = "SecretKey('********')"
    assume(value not in masked)
    key = SecretKey(value)
    assert value not in repr(key)
    assert value not in str(key)
    assert value not in format(key, "")


def test_masked_client_id() -> None:
    def simulator_with(client_id: str) -> Settings:
        return load_settings(environ={"DOKU_CLIENT_ID": client_id, "DOKU_ENV": "simulator"})

    settings = simulator_with(CLIENT)
    assert settings.masked_client_id == CLIENT[:4] + "*" * (len(CLIENT) - 8) + CLIENT[-4:]
    short = simulator_with("ABCDEFGH")
    assert short.masked_client_id == "ABCDEFGH"
