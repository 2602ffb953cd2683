//! Which codes can apply at all: every check that does not depend on the other codes, in the
//! documented precedence order. The first failing check is the code's one reason.

use super::model::{Channel, Coupon, CouponKind, CouponState, Reason, Request, Text};

/// A set of cart lines (at most 200) as a bitset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LineSet([u64; 4]);

impl LineSet {
    pub fn insert(&mut self, line: usize) {
        self.0[line / 64] |= 1 << (line % 64);
    }

    pub fn intersects(&self, other: &LineSet) -> bool {
        self.0.iter().zip(other.0.iter()).any(|(a, b)| a & b != 0)
    }

    pub fn contains_all(&self, other: &LineSet) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & b == *b)
    }

    pub fn union(&self, other: &LineSet) -> LineSet {
        let mut out = *self;
        for (o, b) in out.0.iter_mut().zip(other.0.iter()) {
            *o |= b;
        }
        out
    }

    pub fn lines(&self) -> Vec<usize> {
        (0..256)
            .filter(|&i| self.0[i / 64] & (1 << (i % 64)) != 0)
            .collect()
    }
}

/// A code that passed every individual check: it may apply, depending on the other codes.
#[derive(Debug, Clone)]
pub struct Offer<'a> {
    /// Index of the code in the request.
    pub index: usize,
    pub coupon: &'a Coupon<'a>,
    /// Lines the coupon works on, ascending (for exchange: the lines holding its sku).
    pub eligible: Vec<usize>,
    pub eligible_set: LineSet,
}

fn holds(list: &[Text], value: &str) -> bool {
    list.iter().any(|item| item == value)
}

fn in_scope(coupon: &Coupon, sku: &str, category: &str) -> bool {
    (coupon.scope_skus.is_empty() && coupon.scope_categories.is_empty())
        || holds(&coupon.scope_skus, sku)
        || holds(&coupon.scope_categories, category)
}

/// The individual checks of one found, non-duplicate code, against `base` (the line amounts
/// that coupons see: after the member discount when coupons apply on the member price).
pub fn check<'a>(
    request: &Request,
    index: usize,
    coupon: &'a Coupon,
    base: &[i64],
) -> Result<Offer<'a>, Reason> {
    if !coupon.owner_matches {
        return Err(Reason::NotOwner);
    }
    match coupon.state {
        CouponState::Active => {}
        CouponState::Transferred => return Err(Reason::Transferred),
        CouponState::Revoked => return Err(Reason::Revoked),
        CouponState::Redeemed => return Err(Reason::Redeemed),
        CouponState::Reserved => return Err(Reason::Reserved),
        CouponState::Expired => return Err(Reason::Expired),
    }
    if request.now < coupon.valid_from {
        return Err(Reason::NotYetValid);
    }
    if request.now >= coupon.valid_until {
        return Err(Reason::Expired);
    }
    if !coupon.channels.is_empty() && !holds(&coupon.channels, request.channel.as_str()) {
        return Err(Reason::WrongChannel);
    }
    if request.channel == Channel::Store && !coupon.scope_stores.is_empty() {
        let in_store = match &request.store_id {
            Some(store) => holds(&coupon.scope_stores, store),
            None => false,
        };
        if !in_store {
            return Err(Reason::WrongStore);
        }
    }
    let exchange_sku = match coupon.kind {
        CouponKind::Exchange => coupon.sku.as_deref(),
        _ => None,
    };
    let mut eligible = Vec::new();
    let mut eligible_set = LineSet::default();
    for (i, line) in request.lines.iter().enumerate() {
        let sku_matches = exchange_sku.is_none_or(|sku| sku == line.sku);
        if sku_matches && in_scope(coupon, &line.sku, &line.category) {
            eligible.push(i);
            eligible_set.insert(i);
        }
    }
    if eligible.is_empty() {
        return Err(Reason::OutOfScope);
    }
    if let Some(min_spend) = coupon.min_spend {
        let spend: i64 = eligible.iter().map(|&i| base[i]).sum();
        if spend < min_spend {
            return Err(Reason::BelowThreshold);
        }
    }
    Ok(Offer {
        index,
        coupon,
        eligible,
        eligible_set,
    })
}
