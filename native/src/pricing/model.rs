//! The engine's input and output: plain Rust values, converted by `python_pricing`.
//!
//! Request text is `Cow<'a, str>`: the binding lends the engine the UTF-8 of the caller's own
//! strings for the length of a call instead of copying each one (the copies were a third of the
//! input conversion), while tests and other callers can still hand over owned `String`s.

use std::borrow::Cow;

/// Text in a request: borrowed from the caller where it can be, owned where it must.
pub type Text<'a> = Cow<'a, str>;

/// Where the checkout happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Online,
    Store,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Online => "online",
            Channel::Store => "store",
        }
    }

    pub fn parse(text: &str) -> Option<Channel> {
        match text {
            "online" => Some(Channel::Online),
            "store" => Some(Channel::Store),
            _ => None,
        }
    }
}

/// One cart line: `qty` units of `sku` at `unit_price` cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub sku: Text<'a>,
    pub category: Text<'a>,
    pub unit_price: i64,
    pub qty: i64,
    /// The line earns this many times its points (1..=10; the request may leave it out: 1).
    pub points_multiplier: i64,
}

/// The member's policy as it stands today (the checkout service resolves tier and birthday).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Member {
    /// Tier rate in basis points (1200 = 12% off = 8.8折).
    pub tier_percent_off: i64,
    /// Birthday rate in basis points, used only when `is_birthday`.
    pub birthday_percent_off: i64,
    pub is_birthday: bool,
    /// true: coupons apply on the member price (折上折); false: member discount or coupons.
    pub coupons_on_member_price: bool,
    pub points_per_yuan: i64,
}

/// The stored state of a coupon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponState {
    Active,
    Reserved,
    Redeemed,
    Expired,
    Transferred,
    Revoked,
}

impl CouponState {
    pub fn parse(text: &str) -> Option<CouponState> {
        Some(match text {
            "active" => CouponState::Active,
            "reserved" => CouponState::Reserved,
            "redeemed" => CouponState::Redeemed,
            "expired" => CouponState::Expired,
            "transferred" => CouponState::Transferred,
            "revoked" => CouponState::Revoked,
            _ => return None,
        })
    }
}

/// What a coupon does (API.md, Campaigns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CouponKind {
    Percent,
    Amount,
    Threshold,
    Exchange,
    Gift,
    Points,
}

impl CouponKind {
    pub fn parse(text: &str) -> Option<CouponKind> {
        Some(match text {
            "percent" => CouponKind::Percent,
            "amount" => CouponKind::Amount,
            "threshold" => CouponKind::Threshold,
            "exchange" => CouponKind::Exchange,
            "gift" => CouponKind::Gift,
            "points" => CouponKind::Points,
            _ => return None,
        })
    }

    /// Gift and points coupons never take money off.
    pub fn is_monetary(self) -> bool {
        !matches!(self, CouponKind::Gift | CouponKind::Points)
    }

    /// Application order inside a set: exchange, then percent, then amount and threshold.
    pub fn phase(self) -> u8 {
        match self {
            CouponKind::Exchange => 0,
            CouponKind::Percent => 1,
            CouponKind::Amount | CouponKind::Threshold => 2,
            CouponKind::Gift | CouponKind::Points => 3,
        }
    }
}

/// A coupon as the ledger knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coupon<'a> {
    pub owner_matches: bool,
    pub state: CouponState,
    pub kind: CouponKind,
    pub amount_off: Option<i64>,
    pub percent_off: Option<i64>,
    pub max_discount: Option<i64>,
    pub min_spend: Option<i64>,
    pub sku: Option<Text<'a>>,
    pub points: Option<i64>,
    pub scope_skus: Vec<Text<'a>>,
    pub scope_categories: Vec<Text<'a>>,
    pub scope_stores: Vec<Text<'a>>,
    pub channels: Vec<Text<'a>>,
    pub valid_from: i64,
    pub valid_until: i64,
    pub stackable: bool,
}

/// A code the client sent, with its coupon when the ledger has one (`found`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<'a> {
    pub code: Text<'a>,
    pub coupon: Option<Coupon<'a>>,
}

/// Everything the engine needs to price one cart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub now: i64,
    pub channel: Channel,
    pub store_id: Option<Text<'a>>,
    pub lines: Vec<Line<'a>>,
    pub member: Member,
    pub coupons: Vec<Candidate<'a>>,
}

/// Why a code does not apply (API.md, Checkout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Duplicate,
    NotFound,
    NotOwner,
    Transferred,
    Revoked,
    Redeemed,
    Reserved,
    Expired,
    NotYetValid,
    WrongChannel,
    WrongStore,
    OutOfScope,
    BelowThreshold,
    NotStackable,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Duplicate => "duplicate",
            Reason::NotFound => "not_found",
            Reason::NotOwner => "not_owner",
            Reason::Transferred => "transferred",
            Reason::Revoked => "revoked",
            Reason::Redeemed => "redeemed",
            Reason::Reserved => "reserved",
            Reason::Expired => "expired",
            Reason::NotYetValid => "not_yet_valid",
            Reason::WrongChannel => "wrong_channel",
            Reason::WrongStore => "wrong_store",
            Reason::OutOfScope => "out_of_scope",
            Reason::BelowThreshold => "below_threshold",
            Reason::NotStackable => "not_stackable",
        }
    }
}

/// A discount's share on one cart line (`line` indexes the request's lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineShare {
    pub line: usize,
    pub discount: i64,
}

/// A coupon that applies, with its discount split over its eligible lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Index of the code in the request's `coupons`.
    pub coupon: usize,
    pub discount: i64,
    /// Non-zero shares only, by line index.
    pub lines: Vec<LineShare>,
    pub gift_sku: Option<String>,
    pub points: i64,
}

/// A code that does not apply, with its one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub coupon: usize,
    pub reason: Reason,
}

/// How far the search for the best set of codes went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    /// Every candidate set was accounted for: the chosen set is the best (docs/PRICING.md).
    Exact,
    /// The search stopped at the work budget (`engine::WORK_BUDGET`) and answers the best set
    /// it had found: a valid quote, maybe not the best one.
    Bounded,
}

impl Search {
    pub fn as_str(self) -> &'static str {
        match self {
            Search::Exact => "exact",
            Search::Bounded => "bounded",
        }
    }
}

/// The fields of a quote on the wire, in their order: the keys of `Quote.to_dict()` and
/// `Quote.to_json()`, and the fields of `gateway.checkout.schemas.Quote` (the one Python
/// definition; tests/native/test_pricing_quote.py checks both sides and `_native.pyi`).
/// `work` is the engine's own and never goes on the wire.
pub const QUOTE_FIELDS: [&str; 9] = [
    "subtotal",
    "member_discount",
    "member_lines",
    "coupon_discount",
    "total",
    "points_earned",
    "applied",
    "rejected",
    "search",
];

/// The priced cart. `applied` and `rejected` follow the order of the request's codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub subtotal: i64,
    pub member_discount: i64,
    /// Non-zero shares only, by line index.
    pub member_lines: Vec<LineShare>,
    pub coupon_discount: i64,
    pub total: i64,
    /// i128: `paid * points_per_yuan * multiplier` can exceed i64 for odd policies.
    pub points_earned: i128,
    pub applied: Vec<Applied>,
    pub rejected: Vec<Rejected>,
    pub search: Search,
    /// The engine's work on this cart, in line operations (every line or line class read or
    /// written): deterministic, unlike its time, so tests and the budget count it.
    pub work: u64,
}
