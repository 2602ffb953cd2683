"""Member tokens: they name one member until they expire; anything else names nobody."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.members.services import member_token, token_member

SECRET = "s3cret"
NOW = 1_800_000_000_000


def test_a_token_names_its_member_until_it_expires() -> None:
    token = member_token(SECRET, "m-1001", NOW + 60_000)
    assert token_member(SECRET, token, NOW) == "m-1001"
    assert token_member(SECRET, token, NOW + 59_999) == "m-1001"
    assert token_member(SECRET, token, NOW + 60_000) is None


def test_a_member_id_with_dots_and_colons_survives_the_round_trip() -> None:
    token = member_token(SECRET, "store.12:m-9", NOW + 1000)
    assert token_member(SECRET, token, NOW) == "store.12:m-9"


def test_another_secret_or_a_changed_member_or_expiry_names_nobody() -> None:
    token = member_token(SECRET, "m-1", NOW + 60_000)
    assert token_member("other", token, NOW) is None
    version, member, expires, mac = token.split(".")
    other_member = member_token(SECRET, "m-2", NOW + 60_000).split(".")[1]
    assert token_member(SECRET, ".".join([version, other_member, expires, mac]), NOW) is None
    later = str(int(expires) + 3_600_000)
    assert token_member(SECRET, ".".join([version, member, later, mac]), NOW) is None


@given(st.text(max_size=300))
def test_any_string_that_was_not_issued_names_nobody(text: str) -> None:
    assert token_member(SECRET, text, NOW) is None


def test_missing_tokens_name_nobody() -> None:
    assert token_member(SECRET, None, NOW) is None
    assert token_member(SECRET, "", NOW) is None
