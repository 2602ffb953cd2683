//! The pure pricing core: worked examples, rejection precedence, invariants, and a proptest
//! showing that no input in or out of the contract makes it panic.

use _native::pricing::{
    price, Candidate, Channel, Coupon, CouponKind, CouponState, InputError, Line, LineShare,
    Member, Quote, Reason, Request, Text,
};
use proptest::prelude::*;

const NOW: i64 = 1_800_000_000;

fn line(sku: &str, unit_price: i64, qty: i64) -> Line<'_> {
    Line {
        sku: sku.into(),
        category: "tops".into(),
        unit_price,
        qty,
        points_multiplier: 1,
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
fn points_are_floored_per_line_with_each_line_multiplier() {
    // Lines 123.45 (x2 points) and 67.89 (x1), 10% member discount (折上折), 10% off and 10.00
    // off, 3 points per yuan. Member 19.13 split 12.34 / 6.79 (the leftover cent to the larger
    // remainder); 10% of 172.21 = 17.22 split 11.11 / 6.11; 10.00 over 100.00 / 54.99 split
    // 6.45 / 3.55. Paid: 93.55 and 51.44 (total 144.99). Points: floor(9355 * 3 * 2 / 100) =
    // 561 and floor(5144 * 3 / 100) = 154; the old `3 * (14499 / 100)` gave 432.
    let pct = Coupon {
        percent_off: Some(1000),
        stackable: true,
        ..coupon(CouponKind::Percent)
    };
    let cash = Coupon {
        amount_off: Some(1000),
        stackable: true,
        ..coupon(CouponKind::Amount)
    };
    let doubled = Line {
        points_multiplier: 2,
        ..line("A", 12_345, 1)
    };
    let mut r = request(
        vec![doubled, line("B", 6_789, 1)],
        vec![found("P", pct), found("C", cash)],
    );
    r.member.tier_percent_off = 1000;
    r.member.points_per_yuan = 3;
    let q = price(&r).unwrap();
    let shares = |lines: &[_]| -> Vec<(usize, i64)> {
        lines
            .iter()
            .map(|s: &LineShare| (s.line, s.discount))
            .collect()
    };
    assert_eq!(shares(&q.member_lines), vec![(0, 1234), (1, 679)]);
    assert_eq!(shares(&q.applied[0].lines), vec![(0, 1111), (1, 611)]);
    assert_eq!(shares(&q.applied[1].lines), vec![(0, 645), (1, 355)]);
    assert_eq!(q.total, 9355 + 5144);
    assert_eq!(q.points_earned, 561 + 154);

    // Without 折上折 the cart gets the member discount or the coupons: at 50% the member discount
    // wins, and the coupons saw list prices, so paid is the amount less the member share alone.
    // Member 95.67 split 61.73 / 33.94 (equal remainders: the cent goes to the lower line).
    let mut plain = r.clone();
    plain.member.coupons_on_member_price = false;
    plain.member.tier_percent_off = 5000;
    let q = price(&plain).unwrap();
    assert!(q.applied.is_empty());
    assert_eq!(shares(&q.member_lines), vec![(0, 6173), (1, 3394)]);
    // floor(6172 * 3 * 2 / 100) = 370, floor(3395 * 3 / 100) = 101.
    assert_eq!(q.points_earned, 370 + 101);
}

#[test]
fn bad_quantity_names_the_field() {
    let err = price(&request(vec![line("A", 1, 0)], vec![])).unwrap_err();
    assert_eq!(err, InputError::new("lines[0].qty", "must be 1..999"));
    assert_eq!(err.to_string(), "lines[0].qty: must be 1..999");
    for m in [0, 11] {
        let bad = Line {
            points_multiplier: m,
            ..line("A", 1, 1)
        };
        let err = price(&request(vec![line("A", 1, 1), bad], vec![])).unwrap_err();
        assert_eq!(err.to_string(), "lines[1].points_multiplier: must be 1..10");
    }
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
    // Points: per line, what was paid for it times its multiplier, floored; plus points coupons.
    let ppy = r.member.points_per_yuan as i128;
    let line_points: i128 = r
        .lines
        .iter()
        .zip(amounts.iter().zip(&taken))
        .map(|(l, (a, t))| (a - t) as i128 * ppy * l.points_multiplier as i128 / 100)
        .sum();
    let coupon_points: i128 = q.applied.iter().map(|a| a.points as i128).sum();
    assert_eq!(q.points_earned, line_points + coupon_points);
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
            prop_oneof![1i64..=10, arb_int()],
        )
            .prop_map(|(sku, unit_price, qty, points_multiplier)| Line {
                sku: sku.into(),
                category: "tops".into(),
                unit_price,
                qty,
                points_multiplier,
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
        prices in prop::collection::vec((0i64..=1_000_000_000, 1i64..=999, 1i64..=10), 1..10),
        rates in prop::collection::vec((0i64..=10_000, 0i64..=i64::MAX, any::<bool>(), 0usize..4), 0..10),
        tier in 0i64..=10_000,
        on_member_price in any::<bool>(),
    ) {
        let lines: Vec<Line> = prices
            .iter()
            .enumerate()
            .map(|(i, &(p, q, m))| Line {
                points_multiplier: m,
                ..line(["A", "B", "C", "D"][i % 4], p, q)
            })
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
