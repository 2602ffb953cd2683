//! The request and the quote as JSON bytes (`price_json`): the same schema as the dicts of
//! `python_pricing` (docs/PRICING.md), for callers that hold JSON already.
//!
//! Strings are borrowed from the input bytes unless they hold escapes. The range checks are
//! `validate::check_request`, so their messages match `price`'s; a field of the wrong JSON type
//! is reported with serde_json's wording (and its line and column) instead.

use std::borrow::Cow;

use serde::Deserialize;

use super::engine::price;
use super::errors::InputError;
use super::model::{
    Candidate, Channel, Coupon, CouponKind, CouponState, Line, LineShare, Member, Quote, Request,
    Text,
};

/// A string that borrows from the input when it has no escapes (serde gives a plain
/// `Option<Cow<str>>` or `Vec<Cow<str>>` item an owned copy).
#[derive(Deserialize)]
#[serde(transparent)]
struct WireText<'a>(#[serde(borrow)] Cow<'a, str>);

#[derive(Deserialize)]
struct WireRequest<'a> {
    now: Option<i64>,
    #[serde(borrow)]
    channel: Option<WireText<'a>>,
    #[serde(borrow, default)]
    store_id: Option<WireText<'a>>,
    #[serde(borrow)]
    lines: Option<Vec<WireLine<'a>>>,
    member: Option<WireMember>,
    // Absent is no codes; null is an error, as in `price`.
    #[serde(borrow, default)]
    coupons: Vec<WireCandidate<'a>>,
}

#[derive(Deserialize)]
struct WireLine<'a> {
    #[serde(borrow)]
    sku: Option<WireText<'a>>,
    #[serde(borrow)]
    category: Option<WireText<'a>>,
    unit_price: Option<i64>,
    qty: Option<i64>,
}

#[derive(Deserialize)]
struct WireMember {
    tier_percent_off: Option<i64>,
    birthday_percent_off: Option<i64>,
    is_birthday: Option<bool>,
    coupons_on_member_price: Option<bool>,
    points_per_yuan: Option<i64>,
}

#[derive(Deserialize)]
struct WireCandidate<'a> {
    #[serde(borrow)]
    code: Option<WireText<'a>>,
    found: Option<bool>,
    owner_matches: Option<bool>,
    #[serde(borrow)]
    state: Option<WireText<'a>>,
    #[serde(borrow)]
    kind: Option<WireText<'a>>,
    amount_off: Option<i64>,
    percent_off: Option<i64>,
    max_discount: Option<i64>,
    min_spend: Option<i64>,
    #[serde(borrow)]
    sku: Option<WireText<'a>>,
    points: Option<i64>,
    #[serde(borrow, default)]
    scope_skus: Vec<WireText<'a>>,
    #[serde(borrow, default)]
    scope_categories: Vec<WireText<'a>>,
    #[serde(borrow, default)]
    scope_stores: Vec<WireText<'a>>,
    #[serde(borrow, default)]
    channels: Vec<WireText<'a>>,
    valid_from: Option<i64>,
    valid_until: Option<i64>,
    stackable: Option<bool>,
}

/// A required field: absent (or null) is `missing`, as `price` says for an absent key.
fn required<T>(value: Option<T>, field: impl FnOnce() -> String) -> Result<T, InputError> {
    value.ok_or_else(|| InputError::new(field(), "missing"))
}

fn texts(items: Vec<WireText<'_>>) -> Vec<Text<'_>> {
    items.into_iter().map(|t| t.0).collect()
}

fn line(i: usize, wire: WireLine<'_>) -> Result<Line<'_>, InputError> {
    let f = |name: &'static str| move || format!("lines[{i}].{name}");
    Ok(Line {
        sku: required(wire.sku, f("sku"))?.0,
        category: required(wire.category, f("category"))?.0,
        unit_price: required(wire.unit_price, f("unit_price"))?,
        qty: required(wire.qty, f("qty"))?,
    })
}

fn member(wire: WireMember) -> Result<Member, InputError> {
    let f = |name: &'static str| move || format!("member.{name}");
    Ok(Member {
        tier_percent_off: required(wire.tier_percent_off, f("tier_percent_off"))?,
        birthday_percent_off: required(wire.birthday_percent_off, f("birthday_percent_off"))?,
        is_birthday: required(wire.is_birthday, f("is_birthday"))?,
        coupons_on_member_price: required(
            wire.coupons_on_member_price,
            f("coupons_on_member_price"),
        )?,
        points_per_yuan: required(wire.points_per_yuan, f("points_per_yuan"))?,
    })
}

const STATES: &str = "must be one of active, reserved, redeemed, expired, transferred, revoked";
const KINDS: &str = "must be one of percent, amount, threshold, exchange, gift, points";

fn candidate(i: usize, wire: WireCandidate<'_>) -> Result<Candidate<'_>, InputError> {
    let f = |name: &'static str| move || format!("coupons[{i}].{name}");
    let code = required(wire.code, f("code"))?.0;
    if !required(wire.found, f("found"))? {
        return Ok(Candidate { code, coupon: None });
    }
    let owner_matches = required(wire.owner_matches, f("owner_matches"))?;
    let state = CouponState::parse(&required(wire.state, f("state"))?.0)
        .ok_or_else(|| InputError::new(f("state")(), STATES))?;
    let kind = CouponKind::parse(&required(wire.kind, f("kind"))?.0)
        .ok_or_else(|| InputError::new(f("kind")(), KINDS))?;
    let coupon = Coupon {
        owner_matches,
        state,
        kind,
        amount_off: wire.amount_off,
        percent_off: wire.percent_off,
        max_discount: wire.max_discount,
        min_spend: wire.min_spend,
        sku: wire.sku.map(|t| t.0),
        points: wire.points,
        scope_skus: texts(wire.scope_skus),
        scope_categories: texts(wire.scope_categories),
        scope_stores: texts(wire.scope_stores),
        channels: texts(wire.channels),
        valid_from: required(wire.valid_from, f("valid_from"))?,
        valid_until: required(wire.valid_until, f("valid_until"))?,
        stackable: required(wire.stackable, f("stackable"))?,
    };
    Ok(Candidate {
        code,
        coupon: Some(coupon),
    })
}

/// Reads a request from JSON; the range checks are left to `price`.
pub fn parse_request(input: &[u8]) -> Result<Request<'_>, InputError> {
    let wire: WireRequest<'_> =
        serde_json::from_slice(input).map_err(|e| InputError::new("request", e.to_string()))?;
    let now = required(wire.now, || "now".to_owned())?;
    let channel_text = required(wire.channel, || "channel".to_owned())?.0;
    let channel = Channel::parse(&channel_text)
        .ok_or_else(|| InputError::new("channel", "must be 'online' or 'store'"))?;
    let lines = required(wire.lines, || "lines".to_owned())?
        .into_iter()
        .enumerate()
        .map(|(i, l)| line(i, l))
        .collect::<Result<Vec<_>, _>>()?;
    let member = member(required(wire.member, || "member".to_owned())?)?;
    let coupons = wire
        .coupons
        .into_iter()
        .enumerate()
        .map(|(i, c)| candidate(i, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Request {
        now,
        channel,
        store_id: wire.store_id.map(|t| t.0),
        lines,
        member,
        coupons,
    })
}

/// Prices a JSON request and answers the quote as JSON, keys in the order `price` uses.
pub fn price_json(input: &[u8]) -> Result<Vec<u8>, InputError> {
    let request = parse_request(input)?;
    let quote = price(&request)?;
    let skus: Vec<&str> = request.lines.iter().map(|l| &*l.sku).collect();
    let codes: Vec<&str> = request.coupons.iter().map(|c| &*c.code).collect();
    let mut out = Vec::new();
    write_quote(&mut out, &skus, &codes, &quote);
    Ok(out)
}

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
