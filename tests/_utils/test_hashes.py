import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ghosthub._utils.hashes import file_hash, hash_matches, is_weak, normalize_digest

FULL = hashlib.sha256(b"ghost").hexdigest()


def test_prefix_match_is_case_insensitive():
    assert hash_matches(FULL[:8], FULL)
    assert hash_matches(FULL[:9].upper(), FULL)
    assert hash_matches(FULL, FULL.upper())
    assert not hash_matches("0" * 8, FULL)


@pytest.mark.parametrize("bad", ["", "abc", "1234567", "g" * 8, "0" * 65, None, " ", "12345678 9"])
def test_only_8_to_64_hex_digits_count_as_a_digest(bad):
    assert not hash_matches(bad, FULL)
    with pytest.raises(ValueError):
        normalize_digest(bad)


def test_actual_must_be_a_full_digest():
    assert not hash_matches(FULL[:8], FULL[:40])


def test_weak_means_shorter_than_64():
    assert is_weak(FULL[:8]) and not is_weak(FULL)


@given(st.binary(max_size=3 << 20))
def test_file_hash_is_sha256(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("h") / "f"
    path.write_bytes(data)
    assert file_hash(path) == hashlib.sha256(data).hexdigest()
    assert file_hash(path, chunk_size=7) == hashlib.sha256(data).hexdigest()
