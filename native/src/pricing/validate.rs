//! Range checks of a request: everything the contract bounds, named by field.
//!
//! The binding runs the per-item checks as it converts each item, so that a request with several
//! problems reports the first one in document order, exactly as the Python reference does.

use super::errors::InputError;
use super::model::{Coupon, CouponKind, Line, Member, Request};

pub const MAX_LINES: usize = 200;
pub const MAX_CODES: usize = 20;
pub const MAX_UNIT_PRICE: i64 = 1_000_000_000;
pub const MAX_QTY: i64 = 999;
pub const MAX_POINTS_MULTIPLIER: i64 = 10;
pub const FULL_RATE: i64 = 10_000;

pub fn check_line_count(count: usize) -> Result<(), InputError> {
    if (1..=MAX_LINES).contains(&count) {
        Ok(())
    } else {
        Err(InputError::new("lines", "must hold 1..200 lines"))
    }
}

pub fn check_code_count(count: usize) -> Result<(), InputError> {
    if count <= MAX_CODES {
        Ok(())
    } else {
        Err(InputError::new("coupons", "must hold 0..20 codes"))
    }
}

pub fn check_line(index: usize, line: &Line) -> Result<(), InputError> {
    if !(0..=MAX_UNIT_PRICE).contains(&line.unit_price) {
        return Err(InputError::new(
            format!("lines[{index}].unit_price"),
            "must be 0..1000000000",
        ));
    }
    if !(1..=MAX_QTY).contains(&line.qty) {
        return Err(InputError::new(
            format!("lines[{index}].qty"),
            "must be 1..999",
        ));
    }
    if !(1..=MAX_POINTS_MULTIPLIER).contains(&line.points_multiplier) {
        return Err(InputError::new(
            format!("lines[{index}].points_multiplier"),
            "must be 1..10",
        ));
    }
    Ok(())
}

pub fn check_member(member: &Member) -> Result<(), InputError> {
    if !(0..=FULL_RATE).contains(&member.tier_percent_off) {
        return Err(InputError::new(
            "member.tier_percent_off",
            "must be 0..10000",
        ));
    }
    if !(0..=FULL_RATE).contains(&member.birthday_percent_off) {
        return Err(InputError::new(
            "member.birthday_percent_off",
            "must be 0..10000",
        ));
    }
    if member.points_per_yuan < 0 {
        return Err(InputError::new("member.points_per_yuan", "must be >= 0"));
    }
    Ok(())
}

fn non_negative(index: usize, name: &str, value: Option<i64>) -> Result<(), InputError> {
    match value {
        Some(v) if v < 0 => Err(InputError::new(
            format!("coupons[{index}].{name}"),
            "must be >= 0",
        )),
        _ => Ok(()),
    }
}

fn required<T>(index: usize, name: &str, kind: &str, value: &Option<T>) -> Result<(), InputError> {
    match value {
        Some(_) => Ok(()),
        None => Err(InputError::new(
            format!("coupons[{index}].{name}"),
            format!("required for kind {kind}"),
        )),
    }
}

/// Checks a found coupon (an unknown code carries nothing to check).
pub fn check_coupon(index: usize, coupon: &Coupon) -> Result<(), InputError> {
    non_negative(index, "amount_off", coupon.amount_off)?;
    if let Some(rate) = coupon.percent_off {
        if !(0..=FULL_RATE).contains(&rate) {
            return Err(InputError::new(
                format!("coupons[{index}].percent_off"),
                "must be 0..10000",
            ));
        }
    }
    non_negative(index, "max_discount", coupon.max_discount)?;
    non_negative(index, "min_spend", coupon.min_spend)?;
    non_negative(index, "points", coupon.points)?;
    match coupon.kind {
        CouponKind::Percent => required(index, "percent_off", "percent", &coupon.percent_off),
        CouponKind::Amount => required(index, "amount_off", "amount", &coupon.amount_off),
        CouponKind::Threshold => required(index, "amount_off", "threshold", &coupon.amount_off),
        CouponKind::Exchange => required(index, "sku", "exchange", &coupon.sku),
        CouponKind::Gift => required(index, "sku", "gift", &coupon.sku),
        CouponKind::Points => required(index, "points", "points", &coupon.points),
    }
}

/// Checks a whole request, in the binding's order.
pub fn check_request(request: &Request) -> Result<(), InputError> {
    check_line_count(request.lines.len())?;
    for (i, line) in request.lines.iter().enumerate() {
        check_line(i, line)?;
    }
    check_member(&request.member)?;
    check_code_count(request.coupons.len())?;
    for (i, candidate) in request.coupons.iter().enumerate() {
        if let Some(coupon) = &candidate.coupon {
            check_coupon(i, coupon)?;
        }
    }
    Ok(())
}
