//! The pure pricing core: worked examples, rejection precedence, invariants, and a proptest
//! showing that no input in or out of the contract makes it panic.

use _native::pricing::{
    price, Candidate, Channel, Coupon, CouponKind, CouponState, InputError, Line, Member, Quote,
    Reason, Request, Text,
};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;

fn line(sku: &str, unit_price: i64, qty: i64) -> Line<'_> {
    Line {
        sku: sku.into(),
        category: "tops".into(),
        unit_price,
        qty,
    }
}

fn coupon(kind: CouponKind) -> Coupon<'static> {
    Coupon {
        owner_matches: true,
        state: CouponState::Active,
        kind,
        amount_off: None,
        percent_off: None,
        max_discount: None,
        min_spend: None,
        sku: None,
        points: None,
        scope_skus: vec![],
        scope_categories: vec![],
        scope_stores: vec![],
        channels: vec!["online".into(), "store".into()],
        valid_from: NOW - 1,
        valid_until: NOW + 1,
        stackable: false,
    }
}

fn found(code: impl Into<Text<'static>>, coupon: Coupon<'static>) -> Candidate<'static> {
    Candidate {
        code: code.into(),
        coupon: Some(coupon),
    }
}

fn request(lines: Vec<Line<'static>>, coupons: Vec<Candidate<'static>>) -> Request<'static> {
    Request {
        now: NOW,
        channel: Channel::Online,
        store_id: None,
        lines,
        member: Member {
            coupons_on_member_price: true,
            ..Member::default()
        },
        coupons,
    }
}

fn reasons(quote: &Quote) -> Vec<Reason> {
    quote.rejected.iter().map(|r| r.reason).collect()
}

fn threshold_500_off_100() -> Coupon<'static> {
    Coupon {
        amount_off: Some(10_000),
        min_spend: Some(50_000),
        ..coupon(CouponKind::Threshold)
    }
}

#[test]
fn threshold_500_off_100_at_520_takes_100() {
    let q = price(&request(
        vec![line("A", 52_000, 1)],
        vec![found("X", threshold_500_off_100())],
    ))
    .unwrap();
    assert_eq!(q.coupon_discount, 10_000);
    assert_eq!(q.total, 42_000);
}

#[test]
fn threshold_500_off_100_at_499_99_is_below_threshold() {
    let q = price(&request(
        vec![line("A", 49_999, 1)],
        vec![found("X", threshold_500_off_100())],
    ))
    .unwrap();
    assert!(q.applied.is_empty());
    assert_eq!(reasons(&q), vec![Reason::BelowThreshold]);
}

#[test]
fn percent_85_on_two_at_299_takes_89_70() {
    let c = Coupon {
        percent_off: Some(1500),
        ..coupon(CouponKind::Percent)
    };
    let q = price(&request(vec![line("A", 29_900, 2)], vec![found("X", c)])).unwrap();
    assert_eq!(q.coupon_discount, 8970);
}

#[test]
fn birthday_rate_replaces_the_tier_rate() {
    let mut r = request(vec![line("A", 10_000, 1)], vec![]);
    r.member.tier_percent_off = 1200;
    r.member.birthday_percent_off = 2500;
    r.member.is_birthday = true;
    assert_eq!(price(&r).unwrap().member_discount, 2500);
}

#[test]
fn exchange_without_its_sku_is_out_of_scope() {
    let c = Coupon {
        sku: Some("B".into()),
        ..coupon(CouponKind::Exchange)
    };
    let q = price(&request(vec![line("A", 100, 1)], vec![found("X", c)])).unwrap();
    assert_eq!(reasons(&q), vec![Reason::OutOfScope]);
}

#[test]
fn two_non_stackable_codes_keep_the_better() {
    let small = Coupon {
        amount_off: Some(100),
        ..coupon(CouponKind::Amount)
    };
    let big = Coupon {
        amount_off: Some(300),
        ..coupon(CouponKind::Amount)
    };
    let q = price(&request(
        vec![line("A", 1000, 1)],
        vec![found("S", small), found("B", big)],
    ))
    .unwrap();
    assert_eq!(q.applied.len(), 1);
    assert_eq!(q.applied[0].coupon, 1);
    assert_eq!(q.rejected[0].coupon, 0);
    assert_eq!(reasons(&q), vec![Reason::NotStackable]);
}

#[test]
fn precedence_owner_then_state_then_dates() {
    let c = Coupon {
        amount_off: Some(1),
        owner_matches: false,
        state: CouponState::Redeemed,
        valid_until: NOW,
        ..coupon(CouponKind::Amount)
    };
    let mut codes = vec![found("A", c.clone())];
    codes.push(found(
        "B",
        Coupon {
            owner_matches: true,
            ..c.clone()
        },
    ));
    codes.push(found(
        "C",
        Coupon {
            owner_matches: true,
            state: CouponState::Active,
            ..c
        },
    ));
    codes.push(Candidate {
        code: "A".into(),
        coupon: None,
    });
    codes.push(Candidate {
        code: "Z".into(),
        coupon: None,
    });
    let q = price(&request(vec![line("A", 100, 1)], codes)).unwrap();
    assert_eq!(
        reasons(&q),
        vec![
            Reason::NotOwner,
            Reason::Redeemed,
            Reason::Expired,
            Reason::Duplicate,
            Reason::NotFound
        ]
    );
}

#[test]
fn percent_codes_apply_in_code_order_and_a_code_adding_nothing_is_left_out() {
    // 20% capped at 10.00, then 10% of the 90.00 left: 10.00 + 9.00. A third code that adds
    // nothing loses the tie on "fewer coupons".
    let capped = Coupon {
        percent_off: Some(2000),
        max_discount: Some(1000),
        stackable: true,
        ..coupon(CouponKind::Percent)
    };
    let plain = Coupon {
        percent_off: Some(1000),
        stackable: true,
        ..coupon(CouponKind::Percent)
    };
    let nothing = Coupon {
        amount_off: Some(0),
        stackable: true,
        ..coupon(CouponKind::Amount)
    };
    let q = price(&request(
        vec![line("A", 10_000, 1)],
        vec![found("P", capped), found("Q", plain), found("Z", nothing)],
    ))
    .unwrap();
    assert_eq!(q.coupon_discount, 1000 + 900);
    assert_eq!(reasons(&q), vec![Reason::NotStackable]);
}

#[test]
fn bad_quantity_names_the_field() {
    let err = price(&request(vec![line("A", 1, 0)], vec![])).unwrap_err();
    assert_eq!(err, InputError::new("lines[0].qty", "must be 1..999"));
    assert_eq!(err.to_string(), "lines[0].qty: must be 1..999");
}

fn check_invariants(r: &Request, q: &Quote) {
    let amounts: Vec<i64> = r.lines.iter().map(|l| l.unit_price * l.qty).collect();
    assert_eq!(q.subtotal, amounts.iter().sum::<i64>());
    assert!(q.total >= 0);
    assert_eq!(q.total, q.subtotal - q.member_discount - q.coupon_discount);
    let mut taken = vec![0i64; amounts.len()];
    for s in &q.member_lines {
        taken[s.line] += s.discount;
    }
    assert_eq!(
        q.member_lines.iter().map(|s| s.discount).sum::<i64>(),
        q.member_discount
    );
    for a in &q.applied {
        assert_eq!(a.lines.iter().map(|s| s.discount).sum::<i64>(), a.discount);
        for s in &a.lines {
            taken[s.line] += s.discount;
        }
    }
    for (t, a) in taken.iter().zip(&amounts) {
        assert!(t <= a);
    }
    assert_eq!(q.applied.len() + q.rejected.len(), r.coupons.len());
}

fn arb_kind() -> impl Strategy<Value = CouponKind> {
    prop_oneof![
        Just(CouponKind::Percent),
        Just(CouponKind::Amount),
        Just(CouponKind::Threshold),
        Just(CouponKind::Exchange),
        Just(CouponKind::Gift),
        Just(CouponKind::Points),
    ]
}

fn arb_state() -> impl Strategy<Value = CouponState> {
    prop_oneof![
        4 => Just(CouponState::Active),
        1 => Just(CouponState::Reserved),
        1 => Just(CouponState::Redeemed),
        1 => Just(CouponState::Expired),
        1 => Just(CouponState::Transferred),
        1 => Just(CouponState::Revoked),
    ]
}

/// Any i64, biased towards the edges of the contract's ranges.
fn arb_int() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2i64..20_000,
        Just(1_000_000_000),
        Just(999),
        Just(10_000),
        Just(i64::MAX),
        Just(i64::MIN),
    ]
}

fn arb_names() -> impl Strategy<Value = Vec<Text<'static>>> {
    prop::collection::vec(prop::sample::select(vec!["A", "B", "tops", "S1"]), 0..3)
        .prop_map(|v| v.into_iter().map(Text::from).collect())
}

fn arb_coupon() -> impl Strategy<Value = Option<Coupon<'static>>> {
    let values = (
        any::<bool>(),
        arb_state(),
        arb_kind(),
        prop::option::of(arb_int()),
        prop::option::of(arb_int()),
        prop::option::of(arb_int()),
        prop::option::of(arb_int()),
        prop::option::of(prop::sample::select(vec!["A", "B"])),
        prop::option::of(arb_int()),
    );
    let scope = (
        arb_names(),
        arb_names(),
        arb_names(),
        arb_names(),
        arb_int(),
        arb_int(),
        any::<bool>(),
    );
    prop::option::of((values, scope).prop_map(
        |(
            (
                owner_matches,
                state,
                kind,
                amount_off,
                percent_off,
                max_discount,
                min_spend,
                sku,
                points,
            ),
            (
                scope_skus,
                scope_categories,
                scope_stores,
                channels,
                valid_from,
                valid_until,
                stackable,
            ),
        )| Coupon {
            owner_matches,
            state,
            kind,
            amount_off,
            percent_off,
            max_discount,
            min_spend,
            sku: sku.map(Text::from),
            points,
            scope_skus,
            scope_categories,
            scope_stores,
            channels,
            valid_from,
            valid_until,
            stackable,
        },
    ))
}

fn arb_request() -> impl Strategy<Value = Request<'static>> {
    let lines = prop::collection::vec(
        (
            prop::sample::select(vec!["A", "B", "C"]),
            arb_int(),
            arb_int(),
        )
            .prop_map(|(sku, unit_price, qty)| Line {
                sku: sku.into(),
                category: "tops".into(),
                unit_price,
                qty,
            }),
        0..8,
    );
    let member = (
        arb_int(),
        arb_int(),
        any::<bool>(),
        any::<bool>(),
        arb_int(),
    )
        .prop_map(
            |(tier, birthday, is_birthday, on_member_price, points_per_yuan)| Member {
                tier_percent_off: tier,
                birthday_percent_off: birthday,
                is_birthday,
                coupons_on_member_price: on_member_price,
                points_per_yuan,
            },
        );
    let coupons = prop::collection::vec(
        (prop::sample::select(vec!["X", "Y", "Z", "W"]), arb_coupon()).prop_map(|(code, c)| {
            Candidate {
                code: code.into(),
                coupon: c,
            }
        }),
        0..8,
    );
    (arb_int(), any::<bool>(), lines, member, coupons).prop_map(
        |(now, online, lines, member, coupons)| Request {
            now,
            channel: if online {
                Channel::Online
            } else {
                Channel::Store
            },
            store_id: Some("S1".into()),
            lines,
            member,
            coupons,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Any request, valid or not, gives a quote or an input error: never a panic (overflow
    /// checks are on in test builds, so this also proves there is no overflow).
    #[test]
    fn never_panics_and_keeps_the_invariants(r in arb_request()) {
        if let Ok(q) = price(&r) {
            check_invariants(&r, &q);
        }
    }

    /// The same with values inside the contract, so that pricing really runs.
    #[test]
    fn valid_requests_keep_the_invariants(
        prices in prop::collection::vec((0i64..=1_000_000_000, 1i64..=999), 1..10),
        rates in prop::collection::vec((0i64..=10_000, 0i64..=i64::MAX, any::<bool>(), 0usize..4), 0..10),
        tier in 0i64..=10_000,
        on_member_price in any::<bool>(),
    ) {
        let lines: Vec<Line> = prices
            .iter()
            .enumerate()
            .map(|(i, &(p, q))| line(["A", "B", "C", "D"][i % 4], p, q))
            .collect();
        let coupons = rates
            .iter()
            .enumerate()
            .map(|(i, &(rate, amount, stackable, k))| {
                let kind = [CouponKind::Percent, CouponKind::Amount, CouponKind::Threshold, CouponKind::Exchange][k];
                found(
                    format!("C{i}"),
                    Coupon {
                        percent_off: Some(rate),
                        amount_off: Some(amount),
                        sku: Some("B".into()),
                        min_spend: Some(amount % 1_000_000),
                        stackable,
                        ..coupon(kind)
                    },
                )
            })
            .collect();
        let mut r = request(lines, coupons);
        r.member.tier_percent_off = tier;
        r.member.coupons_on_member_price = on_member_price;
        r.member.points_per_yuan = i64::MAX;
        let q = price(&r).unwrap();
        check_invariants(&r, &q);
    }
}
