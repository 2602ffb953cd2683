//! Coupon codes: 65 random bits from the OS CSPRNG, written as 13 Crockford base32 symbols,
//! followed by Crockford's mod-37 check symbol.
//!
//! Generation draws again whenever the check value would be one of Crockford's extra symbols
//! (`*~$=U`), so printed codes are plain letters and digits (friendlier on SMS and posters);
//! that costs log2(37/32) ≈ 0.2 bits, leaving about 64.8 bits of randomness.
//! Because 37 is prime and every place value 32^k is coprime to it, any single-symbol
//! substitution changes the value mod 37, so the check symbol catches every one of them.

use std::fmt;

/// Data symbols of a code (65 bits).
pub const DATA_LEN: usize = 13;
/// Data symbols plus the check symbol.
pub const CODE_LEN: usize = DATA_LEN + 1;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const CHECK_ALPHABET: &[u8; 37] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeError {
    Length(usize),
    Symbol(char),
    Check,
    Rng,
}

impl fmt::Display for CodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodeError::Length(n) => write!(f, "a code has {CODE_LEN} symbols, got {n}"),
            CodeError::Symbol(c) => write!(f, "{c:?} is not a Crockford base32 symbol"),
            CodeError::Check => write!(f, "the check symbol does not match"),
            CodeError::Rng => write!(f, "the OS random number generator failed"),
        }
    }
}

impl std::error::Error for CodeError {}

fn data_value(symbol: u8) -> Option<u32> {
    let up = symbol.to_ascii_uppercase();
    let up = match up {
        b'O' => b'0',
        b'I' | b'L' => b'1',
        other => other,
    };
    ALPHABET.iter().position(|&a| a == up).map(|p| p as u32)
}

fn check_value(symbol: u8) -> Option<u32> {
    let up = symbol.to_ascii_uppercase();
    match up {
        b'*' => Some(32),
        b'~' => Some(33),
        b'$' => Some(34),
        b'=' => Some(35),
        b'U' => Some(36),
        other => data_value(other),
    }
}

fn encode(value: u128) -> String {
    let mut out = [0u8; CODE_LEN];
    for (i, slot) in out[..DATA_LEN].iter_mut().enumerate() {
        let shift = 5 * (DATA_LEN - 1 - i);
        *slot = ALPHABET[((value >> shift) & 31) as usize];
    }
    out[DATA_LEN] = CHECK_ALPHABET[(value % 37) as usize];
    // Every byte comes from the ASCII alphabets above.
    String::from_utf8(out.to_vec()).unwrap_or_default()
}

/// A new random code.
pub fn new_code() -> Result<String, CodeError> {
    let mut buf = [0u8; 16];
    loop {
        getrandom::getrandom(&mut buf[..9]).map_err(|_| CodeError::Rng)?;
        let value = u128::from_le_bytes(buf) & ((1u128 << 65) - 1);
        if value % 37 < 32 {
            return Ok(encode(value));
        }
    }
}

/// Parses user input into the canonical upper-case code: lower case and Crockford's look-alikes
/// (`O`→`0`, `I`/`L`→`1`) are accepted, hyphens and spaces are ignored.
pub fn normalize_code(text: &str) -> Result<String, CodeError> {
    let symbols: Vec<u8> = text.bytes().filter(|b| *b != b'-' && *b != b' ').collect();
    if symbols.len() != CODE_LEN {
        return Err(CodeError::Length(text.chars().count()));
    }
    if let Some(c) = text.chars().find(|c| !c.is_ascii()) {
        return Err(CodeError::Symbol(c));
    }
    let mut value: u128 = 0;
    for &s in &symbols[..DATA_LEN] {
        let v = data_value(s).ok_or(CodeError::Symbol(s as char))?;
        value = (value << 5) | v as u128;
    }
    let check =
        check_value(symbols[DATA_LEN]).ok_or(CodeError::Symbol(symbols[DATA_LEN] as char))?;
    if value % 37 != check as u128 {
        return Err(CodeError::Check);
    }
    Ok(encode(value))
}
