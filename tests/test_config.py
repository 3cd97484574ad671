"""Settings: a frozen object with named defaults, every environment variable read in ``config``, bad values refused."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ghosthub import config
from ghosthub.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
BASE = {"GHOSTHUB_CACHE": "/c"}

# (variable, value): every bad value of every variable that takes a number, a size or a word.
BAD = [
    ("GHOSTHUB_MAX_SIZE", "inf"),
    ("GHOSTHUB_MAX_SIZE", "-5G"),
    ("GHOSTHUB_MAX_SIZE", "nan"),
    ("GHOSTHUB_MAX_SIZE", "0"),
    ("GHOSTHUB_MAX_SIZE", "lots"),
    ("GHOSTHUB_MAX_SIZE", "5X"),
    ("GHOSTHUB_MAX_SIZE", "1e400"),
    ("GHOSTHUB_REHASH_BELOW", "inf"),
    ("GHOSTHUB_REHASH_BELOW", "-1M"),
    ("GHOSTHUB_REHASH_BELOW", "nan"),
    ("GHOSTHUB_REHASH_BELOW", "lots"),
    ("GHOSTHUB_TIMEOUT", "nan"),
    ("GHOSTHUB_TIMEOUT", "inf"),
    ("GHOSTHUB_TIMEOUT", "-1"),
    ("GHOSTHUB_TIMEOUT", "0"),
    ("GHOSTHUB_TIMEOUT", "soon"),
    ("GHOSTHUB_RETRIES", "0"),
    ("GHOSTHUB_RETRIES", "-1"),
    ("GHOSTHUB_RETRIES", "2.5"),
    ("GHOSTHUB_RETRIES", "inf"),
    ("GHOSTHUB_RETRIES", "nan"),
    ("GHOSTHUB_CONNECTIONS", "many"),
    ("GHOSTHUB_CONNECTIONS", "-2"),
    ("GHOSTHUB_CONNECTIONS", "1.5"),
    ("GHOSTHUB_OFFLINE", "maybe"),
    ("GHOSTHUB_NO_PROGRESS", "2"),
    ("GHOSTHUB_MIRROR", "https://a.example/"),
]


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_is_a_config_error_naming_the_variable_and_what_it_accepts(name, value):
    with pytest.raises(ConfigError) as info:
        config.settings(env={**BASE, name: value})
    message = str(info.value)
    assert name in message and repr(value) in message and "expected" in message


def test_a_bad_token_entry_names_the_variable_but_never_the_token():
    with pytest.raises(ConfigError, match="GHOSTHUB_TOKENS.*expected HOST=TOKEN") as info:
        config.settings(env={**BASE, "GHOSTHUB_TOKENS": "s3cr3t-value"})
    assert "s3cr3t" not in str(info.value)


def test_an_unreadable_netrc_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="GHOSTHUB_NETRC"):
        config.settings(env={**BASE, "GHOSTHUB_NETRC": str(tmp_path / "missing")})


@pytest.mark.parametrize(
    ("name", "value", "field", "expected"),
    [
        ("GHOSTHUB_MAX_SIZE", "1.5G", "max_size", 3 << 29),
        ("GHOSTHUB_MAX_SIZE", "512MiB", "max_size", 512 << 20),
        ("GHOSTHUB_REHASH_BELOW", "0", "rehash_below", 0),
        ("GHOSTHUB_TIMEOUT", "2.5", "read_timeout", 2.5),
        ("GHOSTHUB_RETRIES", "1", "retries", 1),
        ("GHOSTHUB_CONNECTIONS", "auto", "connections", 0),
        ("GHOSTHUB_CPU_ISA", " AVX2 ", "cpu_isa", "avx2"),
        ("GHOSTHUB_CPU_ISA", "none", "cpu_isa", "native"),
    ],
)
def test_good_values_are_read(name, value, field, expected):
    assert getattr(config.settings(env={**BASE, name: value}), field) == expected


def test_settings_are_frozen_with_named_defaults():
    settings = config.Settings(cache_dir=Path("/c"))
    assert (settings.retries, settings.max_size, settings.rehash_below, settings.cpu_isa) == (
        5,
        5 << 30,
        256 << 20,
        None,
    )
    with pytest.raises(AttributeError, match="frozen"):
        settings.retries = 1
    with pytest.raises(AttributeError, match="frozen"):
        del settings.retries
    changed = settings.replace(retries=1)
    assert changed.retries == 1 and settings.retries == 5
    assert changed == settings.replace(retries=1) and hash(changed) == hash(settings.replace(retries=1))
    assert changed != settings
    with pytest.raises(TypeError, match="no field retry"):
        config.Settings(cache_dir=Path("/c"), retry=1)
    with pytest.raises(TypeError, match="cache_dir"):
        config.Settings()


def test_the_defaults_of_settings_are_those_of_the_class():
    assert config.settings(env=BASE) == config.Settings(cache_dir=Path("/c"))


def test_the_token_never_shows_in_the_repr():
    settings = config.settings(env={**BASE, "GHOSTHUB_TOKEN": "s3cr3t", "GHOSTHUB_TOKENS": "h=s3cr3t2"})
    assert "s3cr3t" not in repr(settings) and "token='<set>'" in repr(settings)


def test_a_bad_environment_fails_a_command_with_one_clear_line(tmp_path):
    env = {**os.environ, "GHOSTHUB_CACHE": str(tmp_path), "GHOSTHUB_MAX_SIZE": "inf", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-m", "ghosthub", "download", "ghostnet_050"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 1
    assert out.stderr.startswith("error: GHOSTHUB_MAX_SIZE='inf' is not a size") and "Traceback" not in out.stderr


def test_import_ghosthub_reads_config_without_pathlib_or_errors():
    """The oneDNN ceiling is pinned at import through config: that must not cost ``import ghosthub`` anything."""
    code = "import sys, ghosthub; print(sorted(m for m in ('pathlib', 'ghosthub.errors') if m in sys.modules))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _environment_reads(path: Path) -> list[str]:
    """``os.environ.get("GHOSTHUB_...")``, ``os.environ["GHOSTHUB_..."]`` and ``os.getenv`` reads in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        key = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            owner = ast.unparse(node.func.value)
            if (owner == "os.environ" and node.func.attr == "get") or ast.unparse(node.func) == "os.getenv":
                key = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            key = node.slice
        if isinstance(key, ast.Constant) and str(key.value).startswith("GHOSTHUB_"):
            found.append(f"{path.name}:{node.lineno} {key.value}")
    return found


def test_every_ghosthub_variable_is_read_in_config():
    package = ROOT / "ghosthub"
    elsewhere = [r for p in package.rglob("*.py") if p.name != "config.py" for r in _environment_reads(p)]
    assert elsewhere == []
