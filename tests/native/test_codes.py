"""Coupon codes from the native core."""

from __future__ import annotations

import pytest

from gateway.native import new_code, new_codes, normalize_code

SYMBOLS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def test_a_million_generated_codes_are_unique() -> None:
    codes: set[str] = set()
    for _ in range(1000):
        codes.update(new_codes(1000))
    assert len(codes) == 1_000_000


def test_codes_are_upper_case_crockford_with_a_check_symbol() -> None:
    for code in new_codes(1000):
        assert len(code) == 14
        assert set(code) <= set(SYMBOLS)
        assert normalize_code(code) == code


def test_lower_case_and_look_alikes_normalize_to_the_printed_code() -> None:
    code = new_code()
    typed = code.lower().replace("0", "o").replace("1", "l")
    assert normalize_code(typed) == code
    assert normalize_code(f"{code[:7]}-{code[7:]}") == code


def test_every_single_symbol_substitution_is_rejected() -> None:
    for code in new_codes(300):
        for i, original in enumerate(code):
            for symbol in SYMBOLS:
                if symbol == original:
                    continue
                typo = code[:i] + symbol + code[i + 1 :]
                with pytest.raises(ValueError):
                    normalize_code(typo)


@pytest.mark.parametrize("text", ["", "A", "Ä" * 14, "!" * 14, "0" * 200, "😀" * 14])
def test_garbage_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_code(text)
