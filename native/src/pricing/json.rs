//! The quote as JSON bytes (`Quote.to_json`): the checkout quote of API.md, written straight from
//! the engine's result. Its keys are `QUOTE_FIELDS`, in that order (the Python `Quote` of
//! `gateway/checkout/schemas.py` has the same fields; tests/native/test_pricing_quote.py checks
//! the two across the boundary, byte for byte against msgspec).
//!
//! There is no JSON input: production hands the engine Python dicts (`python_pricing`), and a
//! second reader of the same request would be a second walk to keep in step.

use super::model::{LineShare, Quote};

fn write_int(out: &mut Vec<u8>, value: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

fn write_text(out: &mut Vec<u8>, text: &str) {
    // Writing a str into a Vec cannot fail: there is no error to pass on.
    let _ = serde_json::to_writer(&mut *out, text);
}

fn write_shares(out: &mut Vec<u8>, skus: &[&str], shares: &[LineShare]) {
    out.push(b'[');
    for (k, share) in shares.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"line\":");
        write_int(out, share.line);
        out.extend_from_slice(b",\"sku\":");
        write_text(out, skus[share.line]);
        out.extend_from_slice(b",\"discount\":");
        write_int(out, share.discount);
        out.push(b'}');
    }
    out.push(b']');
}

/// Writes `quote` as the JSON of the checkout quote (API.md; the same keys, in the same order, as
/// `price`'s dict and `msgspec.json.encode` of `gateway.checkout.schemas.Quote`). `skus` are the
/// request's line skus by line, `codes` its codes by position.
pub fn write_quote(out: &mut Vec<u8>, skus: &[&str], codes: &[&str], quote: &Quote) {
    out.reserve(
        200 + 48 * quote.member_lines.len()
            + quote
                .applied
                .iter()
                .map(|a| 100 + 48 * a.lines.len())
                .sum::<usize>()
            + 48 * quote.rejected.len(),
    );
    out.extend_from_slice(b"{\"subtotal\":");
    write_int(out, quote.subtotal);
    out.extend_from_slice(b",\"member_discount\":");
    write_int(out, quote.member_discount);
    out.extend_from_slice(b",\"member_lines\":");
    write_shares(out, skus, &quote.member_lines);
    out.extend_from_slice(b",\"coupon_discount\":");
    write_int(out, quote.coupon_discount);
    out.extend_from_slice(b",\"total\":");
    write_int(out, quote.total);
    out.extend_from_slice(b",\"points_earned\":");
    write_int(out, quote.points_earned);
    out.extend_from_slice(b",\"applied\":[");
    for (k, a) in quote.applied.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"code\":");
        write_text(out, codes[a.coupon]);
        out.extend_from_slice(b",\"discount\":");
        write_int(out, a.discount);
        out.extend_from_slice(b",\"lines\":");
        write_shares(out, skus, &a.lines);
        out.extend_from_slice(b",\"gift_sku\":");
        match &a.gift_sku {
            Some(sku) => write_text(out, sku),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"points\":");
        write_int(out, a.points);
        out.push(b'}');
    }
    out.extend_from_slice(b"],\"rejected\":[");
    for (k, r) in quote.rejected.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"code\":");
        write_text(out, codes[r.coupon]);
        out.extend_from_slice(b",\"reason\":\"");
        out.extend_from_slice(r.reason.as_str().as_bytes());
        out.extend_from_slice(b"\"}");
    }
    out.extend_from_slice(b"],\"search\":\"");
    out.extend_from_slice(quote.search.as_str().as_bytes());
    out.extend_from_slice(b"\"}");
}
