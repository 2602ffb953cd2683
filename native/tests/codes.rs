use _native::codes::{new_code, normalize_code, CodeError, CODE_LEN};
use std::collections::HashSet;

#[test]
fn new_codes_are_canonical_and_unique() {
    let mut seen = HashSet::new();
    for _ in 0..100_000 {
        let code = new_code().unwrap();
        assert_eq!(code.len(), CODE_LEN);
        assert_eq!(normalize_code(&code).unwrap(), code);
        assert!(code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert!(seen.insert(code));
    }
}

#[test]
fn look_alikes_and_lower_case_are_accepted() {
    let code = new_code().unwrap();
    let typed = code.to_lowercase().replace('0', "o").replace('1', "l");
    assert_eq!(normalize_code(&typed).unwrap(), code);
}

#[test]
fn every_single_substitution_is_rejected() {
    const SYMBOLS: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ*~$=U";
    for _ in 0..200 {
        let code = new_code().unwrap();
        for (i, original) in code.char_indices() {
            for s in SYMBOLS.chars().filter(|&s| s != original) {
                if i < CODE_LEN - 1 && "*~$=U".contains(s) {
                    continue; // not a data symbol at all: rejected as a symbol, checked below
                }
                let mut bad = code.clone();
                bad.replace_range(i..i + 1, &s.to_string());
                assert!(normalize_code(&bad).is_err(), "{bad} accepted for {code}");
            }
        }
    }
}

#[test]
fn garbage_is_rejected_without_panic() {
    assert_eq!(normalize_code(""), Err(CodeError::Length(0)));
    assert!(normalize_code("ÄÄÄÄÄÄÄÄÄÄÄÄÄÄ").is_err());
    assert!(normalize_code("!!!!!!!!!!!!!!").is_err());
}
