//! Pricing a cart: the member discount, the choice of the best set of codes, and the exact
//! split of every discount over its lines. The rules are in the module docs (`pricing`).

use super::errors::InputError;
use super::model::{Applied, CouponKind, LineShare, Quote, Reason, Rejected, Request, Search};
use super::rules::{self, LineSet, Offer};
use super::split::{largest_remainder, largest_remainder_in};
use super::validate::{check_request, FULL_RATE};

/// Validates and prices one request.
pub fn price(request: &Request) -> Result<Quote, InputError> {
    check_request(request)?;
    Ok(price_valid(request))
}

/// The most work (`Quote::work`, line operations) the search for the best set may do before it
/// stops and answers the best set found so far (`Search::Bounded`). About 20 ms of engine time
/// on the development machine (docs/PRICING.md, "Worst cases"): the contract's 50 ms with room.
pub const WORK_BUDGET: u64 = 6_000_000;

/// Prices a request that already passed `validate::check_request` (the binding validates as
/// it converts). Every amount stays within i64 for such a request; products use i128.
pub fn price_valid(request: &Request) -> Quote {
    price_within(request, WORK_BUDGET)
}

/// `price_valid` with another work budget (tests use small ones to reach `Search::Bounded`).
pub fn price_within(request: &Request, budget: u64) -> Quote {
    let amounts: Vec<i64> = request.lines.iter().map(|l| l.unit_price * l.qty).collect();
    let subtotal: i64 = amounts.iter().sum();
    let qty: Vec<i64> = request.lines.iter().map(|l| l.qty).collect();

    let member = &request.member;
    let rate = if member.is_birthday {
        member.tier_percent_off.max(member.birthday_percent_off)
    } else {
        member.tier_percent_off
    };
    let member_discount = percent_of(subtotal, rate);
    let mut member_shares = Vec::new();
    largest_remainder(member_discount, &amounts, &mut member_shares);

    let base: Vec<i64> = if member.coupons_on_member_price {
        amounts
            .iter()
            .zip(&member_shares)
            .map(|(a, m)| a - m)
            .collect()
    } else {
        amounts.clone()
    };

    // Individual checks, in the documented precedence; duplicates first.
    let mut rejected: Vec<Rejected> = Vec::new();
    let mut offers: Vec<Offer> = Vec::new();
    for (index, candidate) in request.coupons.iter().enumerate() {
        let reason = if request.coupons[..index]
            .iter()
            .any(|earlier| earlier.code == candidate.code)
        {
            Some(Reason::Duplicate)
        } else {
            match &candidate.coupon {
                None => Some(Reason::NotFound),
                Some(coupon) => match rules::check(request, index, coupon, &base) {
                    Ok(offer) => {
                        offers.push(offer);
                        None
                    }
                    Err(reason) => Some(reason),
                },
            }
        };
        if let Some(reason) = reason {
            rejected.push(Rejected {
                coupon: index,
                reason,
            });
        }
    }

    let cart = Cart { base, qty };
    let mut scratch = Scratch::default();
    let (coupon_plan, exact) = best_coupon_set(&cart, &offers, budget, &mut scratch);
    let (member_applies, chosen) = if member.coupons_on_member_price || member_discount == 0 {
        (true, coupon_plan.mask)
    } else {
        // Member discount or coupons: with the member discount only gift and points coupons,
        // which take no money off, can still apply.
        let non_monetary: Vec<Offer> = offers
            .iter()
            .filter(|o| !o.coupon.kind.is_monetary())
            .cloned()
            .collect();
        let (mut member_plan, _) = best_coupon_set(&cart, &non_monetary, budget, &mut scratch);
        member_plan.savings = member_discount;
        // Ties go to the member discount: the same price, and the coupons stay in the wallet.
        if coupon_plan.beats(&member_plan) {
            (false, coupon_plan.mask)
        } else {
            (true, member_plan.mask)
        }
    };

    // The exact evaluation of the chosen set, with every line share.
    let mut chosen_offers: Vec<&Offer> = offers
        .iter()
        .filter(|o| chosen & (1 << o.index) != 0)
        .collect();
    chosen_offers.sort_by_key(|o| (o.coupon.kind.phase(), o.index));
    let mut left = cart.base.clone();
    let mut applied: Vec<Applied> = Vec::with_capacity(chosen_offers.len());
    for offer in chosen_offers {
        let mut shares = Vec::new();
        let discount = apply(
            &cart,
            offer,
            &mut left,
            Mode::Exact(&mut shares),
            &mut scratch,
        );
        let coupon = offer.coupon;
        applied.push(Applied {
            coupon: offer.index,
            discount,
            lines: shares,
            gift_sku: match coupon.kind {
                CouponKind::Gift => coupon.sku.as_deref().map(str::to_owned),
                _ => None,
            },
            points: match coupon.kind {
                CouponKind::Points => coupon.points.unwrap_or(0),
                _ => 0,
            },
        });
    }
    applied.sort_by_key(|a| a.coupon);
    for offer in &offers {
        if chosen & (1 << offer.index) == 0 {
            rejected.push(Rejected {
                coupon: offer.index,
                reason: Reason::NotStackable,
            });
        }
    }
    rejected.sort_by_key(|r| r.coupon);

    let (member_discount, member_lines) = if member_applies {
        let lines = member_shares
            .iter()
            .enumerate()
            .filter(|(_, &d)| d > 0)
            .map(|(line, &discount)| LineShare { line, discount })
            .collect();
        (member_discount, lines)
    } else {
        (0, Vec::new())
    };
    let coupon_discount: i64 = applied.iter().map(|a| a.discount).sum();
    let total = subtotal - member_discount - coupon_discount;
    // Points, per line: what is `left` of each line after the chosen coupons is what the member
    // pays for it, except in the member plan without 折上折, where the coupons saw list prices
    // and the line's member share is still to come off.
    let member_off = member_applies && !member.coupons_on_member_price;
    let ppy = member.points_per_yuan as i128;
    let line_points: i128 = left
        .iter()
        .zip(&member_shares)
        .zip(&request.lines)
        .map(|((&left, &share), line)| {
            let paid = if member_off { left - share } else { left };
            paid as i128 * ppy * line.points_multiplier as i128 / 100
        })
        .sum();
    let coupon_points: i128 = applied.iter().map(|a| a.points as i128).sum();
    let points_earned = line_points + coupon_points;
    Quote {
        subtotal,
        member_discount,
        member_lines,
        coupon_discount,
        total,
        points_earned,
        applied,
        rejected,
        search: if exact {
            Search::Exact
        } else {
            Search::Bounded
        },
        work: scratch.work,
    }
}

/// The work of splitting a discount over one line (`apply`), in line reads.
const SPLIT_LINE_WORK: u64 = 4;

/// `floor(amount * rate / 10000)` for a non-negative amount and a rate of 0..=10000.
fn percent_of(amount: i64, rate: i64) -> i64 {
    (amount as i128 * rate as i128 / FULL_RATE as i128) as i64
}

/// Line amounts as the coupons see them, and quantities (for exchange).
struct Cart {
    base: Vec<i64>,
    qty: Vec<i64>,
}

/// Buffers reused by every `apply` of a call, and the call's work counter.
#[derive(Default)]
struct Scratch {
    weights: Vec<i64>,
    shares: Vec<i64>,
    remainders: Vec<(i128, usize)>,
    /// Line operations so far (`Quote::work`).
    work: u64,
}

enum Mode<'s> {
    /// Largest-remainder split over the eligible lines, recorded as shares.
    Exact(&'s mut Vec<LineShare>),
    /// Only the amount matters: take it from the eligible lines first come first served. Used
    /// in the search where no later coupon can tell the difference (see `Search::new`).
    Lump,
    /// The largest-remainder split, without recording shares.
    Split,
}

/// Applies one coupon to what is `left` of the lines and returns its discount.
fn apply(cart: &Cart, offer: &Offer, left: &mut [i64], mode: Mode, scratch: &mut Scratch) -> i64 {
    let coupon = offer.coupon;
    // A split line costs a division, a remainder and its part of the selection: about four
    // times a line read (the unit), so that work stays proportional to time.
    let per_line = match mode {
        Mode::Lump => 1,
        Mode::Exact(_) | Mode::Split => SPLIT_LINE_WORK,
    };
    scratch.work += per_line * offer.eligible.len() as u64;
    let discount = match coupon.kind {
        CouponKind::Gift | CouponKind::Points => return 0,
        CouponKind::Exchange => {
            // One unit free, at the price the coupons see, from the line where it is worth most.
            let mut best: Option<(usize, i64)> = None;
            for &line in &offer.eligible {
                let worth = (cart.base[line] / cart.qty[line]).min(left[line]);
                if best.is_none_or(|(_, b)| worth > b) {
                    best = Some((line, worth));
                }
            }
            let Some((line, worth)) = best else { return 0 };
            left[line] -= worth;
            if let Mode::Exact(shares) = mode {
                if worth > 0 {
                    shares.push(LineShare {
                        line,
                        discount: worth,
                    });
                }
            }
            return worth;
        }
        CouponKind::Percent => {
            let remaining: i64 = offer.eligible.iter().map(|&l| left[l]).sum();
            let discount = percent_of(remaining, coupon.percent_off.unwrap_or(0));
            match coupon.max_discount {
                Some(cap) => discount.min(cap),
                None => discount,
            }
        }
        CouponKind::Amount | CouponKind::Threshold => {
            let remaining: i64 = offer.eligible.iter().map(|&l| left[l]).sum();
            coupon.amount_off.unwrap_or(0).min(remaining)
        }
    };
    match mode {
        Mode::Lump => {
            let mut to_take = discount;
            for &line in &offer.eligible {
                if to_take == 0 {
                    break;
                }
                let take = to_take.min(left[line]);
                left[line] -= take;
                to_take -= take;
            }
        }
        Mode::Exact(_) | Mode::Split => {
            scratch.weights.clear();
            scratch
                .weights
                .extend(offer.eligible.iter().map(|&l| left[l]));
            largest_remainder_in(
                discount,
                &scratch.weights,
                &mut scratch.shares,
                &mut scratch.remainders,
            );
            let record = match mode {
                Mode::Exact(shares) => Some(shares),
                _ => None,
            };
            let mut record = record;
            for (&line, &share) in offer.eligible.iter().zip(&scratch.shares) {
                left[line] -= share;
                if share > 0 {
                    if let Some(shares) = record.as_deref_mut() {
                        shares.push(LineShare {
                            line,
                            discount: share,
                        });
                    }
                }
            }
        }
    }
    discount
}

/// The most `offer` could still take, with `remaining` left on its eligible lines (exchange
/// reads its lines one by one from `left`): its discount never grows as `left` shrinks.
fn upper_bound_now(cart: &Cart, offer: &Offer, left: &[i64], remaining: i64) -> i64 {
    let coupon = offer.coupon;
    match coupon.kind {
        CouponKind::Gift | CouponKind::Points => 0,
        CouponKind::Exchange => offer
            .eligible
            .iter()
            .map(|&l| (cart.base[l] / cart.qty[l]).min(left[l]))
            .max()
            .unwrap_or(0),
        CouponKind::Percent => {
            let discount = percent_of(remaining, coupon.percent_off.unwrap_or(0));
            coupon
                .max_discount
                .map_or(discount, |cap| discount.min(cap))
        }
        CouponKind::Amount | CouponKind::Threshold => coupon.amount_off.unwrap_or(0).min(remaining),
    }
}

/// A candidate set of codes, ranked by `beats`.
#[derive(Debug, Clone, Copy)]
struct Choice {
    /// Money saved (cents).
    savings: i64,
    /// Gift and points coupons in the set.
    non_monetary: u32,
    count: u32,
    /// The set, one bit per code index.
    mask: u32,
}

impl Choice {
    const NONE: Choice = Choice {
        savings: -1,
        non_monetary: 0,
        count: 0,
        mask: 0,
    };

    /// More money saved; then more gift/points coupons; then fewer coupons; then the set whose
    /// sorted code indices come first lexicographically.
    fn beats(&self, other: &Choice) -> bool {
        if self.savings != other.savings {
            return self.savings > other.savings;
        }
        if self.non_monetary != other.non_monetary {
            return self.non_monetary > other.non_monetary;
        }
        if self.count != other.count {
            return self.count < other.count;
        }
        let differ = self.mask ^ other.mask;
        differ != 0 && self.mask & differ & differ.wrapping_neg() != 0
    }
}

/// The best set of `offers` (empty only when there is no offer): every non-stackable offer
/// alone, or any non-empty set of stackable ones; and whether it is surely the best (false when
/// the search of the stackable money coupons stopped at `budget`).
fn best_coupon_set(
    cart: &Cart,
    offers: &[Offer],
    budget: u64,
    scratch: &mut Scratch,
) -> (Choice, bool) {
    let mut best = Choice::NONE;
    if offers.is_empty() {
        best.savings = 0;
        return (best, true);
    }
    for offer in offers.iter().filter(|o| !o.coupon.stackable) {
        let mut left = cart.base.clone();
        let savings = apply(cart, offer, &mut left, Mode::Split, scratch);
        let choice = Choice {
            savings,
            non_monetary: u32::from(!offer.coupon.kind.is_monetary()),
            count: 1,
            mask: 1 << offer.index,
        };
        if choice.beats(&best) {
            best = choice;
        }
    }
    // Stackable gift and points coupons take nothing from the lines: every best stackable set
    // holds all of them, plus the best money set (or none, when that saves nothing).
    let mut gifts = Choice {
        savings: 0,
        non_monetary: 0,
        count: 0,
        mask: 0,
    };
    for offer in offers
        .iter()
        .filter(|o| o.coupon.stackable && !o.coupon.kind.is_monetary())
    {
        gifts.non_monetary += 1;
        gifts.count += 1;
        gifts.mask |= 1 << offer.index;
    }
    if gifts.count > 0 && gifts.beats(&best) {
        best = gifts;
    }
    let mut money: Vec<&Offer> = offers
        .iter()
        .filter(|o| o.coupon.stackable && o.coupon.kind.is_monetary())
        .collect();
    let mut exact = true;
    if !money.is_empty() {
        money.sort_by_key(|o| (o.coupon.kind.phase(), o.index));
        // A coupon that takes nothing from the untouched cart takes nothing from any part of it
        // (a discount never grows as what is left shrinks) and changes nothing for the others:
        // every set holding it ties with the same set without it, which has fewer coupons.
        // Such coupons are left out of the search; one of them only matters when all are.
        let first = money.iter().map(|o| o.index).min().unwrap_or(0);
        money.retain(|o| {
            scratch.work += o.eligible.len() as u64;
            let remaining = o.eligible.iter().map(|&l| cart.base[l]).sum();
            upper_bound_now(cart, o, &cart.base, remaining) > 0
        });
        let found = if money.is_empty() {
            Choice {
                savings: 0,
                non_monetary: 0,
                count: 1,
                mask: 1 << first,
            }
        } else {
            let mut search = BestSet::new(cart, money, budget, scratch);
            let found = search.run();
            exact = !search.stopped;
            found
        };
        let with_gifts = Choice {
            savings: found.savings,
            non_monetary: gifts.non_monetary,
            count: found.count + gifts.count,
            mask: found.mask | gifts.mask,
        };
        if with_gifts.beats(&best) {
            best = with_gifts;
        }
    }
    (best, exact)
}

/// Branch and bound over the subsets of the stackable money coupons, in application order.
///
/// The incumbent starts as the whole set (usually the best already, as adding a coupon only
/// loses money through rounding), improved by dropping single coupons while that helps; a
/// branch is then cut when its upper bound cannot beat the incumbent: the money saved so far,
/// plus the smaller of (a) the sum of each remaining coupon's discount on the untouched cart
/// (a coupon never saves more on less), (b) what is left on the lines the remaining coupons can
/// reach, (c) the sum of what each remaining coupon could take from what is left now, (d) the
/// same with compounding percent groups (`chained_bound`). A branch that can at best tie is
/// also cut once it holds more coupons than the incumbent (ties prefer fewer).
///
/// The bounds read sums over lines, which the search takes per line class: the lines covered
/// by exactly the same coupons, which every coupon reads together (a cart of 200 lines over
/// four skus has at most a few dozen classes). Every line and class read is counted in
/// `Scratch::work`; past the budget the search stops where it is (`stopped`).
struct BestSet<'c, 'o, 's> {
    cart: &'c Cart,
    offers: Vec<&'o Offer<'o>>,
    /// Whether a later coupon can see how this one is split over its lines (else `Mode::Lump`).
    needs_split: Vec<bool>,
    /// `suffix_bound[p]`: the sum of the standalone discounts of offers `p..`.
    suffix_bound: Vec<i64>,
    /// The lines of each line class.
    class_lines: Vec<Vec<usize>>,
    /// The classes each offer covers, and `reach[p]`: the classes that offers `p..` cover.
    offer_classes: Vec<Vec<usize>>,
    reach: Vec<Vec<usize>>,
    /// Percent offers grouped by eligible lines: `percent_group[p]` is offer `p`'s group (an
    /// index into `groups`, which holds each group's classes), `None` for other kinds.
    percent_group: Vec<Option<usize>>,
    groups: Vec<Vec<usize>>,
    /// `left` per number of coupons taken so far (the search's stack).
    levels: Vec<Vec<i64>>,
    /// What is left on each class, at the node being bounded.
    class_left: Vec<i64>,
    scratch: &'s mut Scratch,
    /// The work counter's value at which the search stops.
    limit: u64,
    stopped: bool,
    best: Choice,
}

impl<'c, 'o, 's> BestSet<'c, 'o, 's> {
    fn new(
        cart: &'c Cart,
        offers: Vec<&'o Offer<'o>>,
        budget: u64,
        scratch: &'s mut Scratch,
    ) -> Self {
        let n = offers.len();
        // A coupon's split is invisible to the coupons after it when each of them either misses
        // its lines or covers all of them (then only the sum counts) and is itself invisible.
        // Exchange coupons read single lines, but they come first, so none follows another kind.
        let mut needs_split = vec![false; n];
        for p in (0..n).rev() {
            let mine: &LineSet = &offers[p].eligible_set;
            needs_split[p] = (p + 1..n).any(|q| {
                let theirs = &offers[q].eligible_set;
                theirs.intersects(mine)
                    && (!theirs.contains_all(mine)
                        || needs_split[q]
                        || offers[q].coupon.kind == CouponKind::Exchange)
            });
        }
        let limit = scratch.work.saturating_add(budget);
        let mut suffix_bound = vec![0i64; n + 1];
        for p in (0..n).rev() {
            let mut left = cart.base.clone();
            let alone = apply(cart, offers[p], &mut left, Mode::Lump, scratch);
            suffix_bound[p] = suffix_bound[p + 1] + alone;
        }
        // Line classes: lines with the same covering offers (at most 20, so a u32 each).
        let mut cover = vec![0u32; cart.base.len()];
        for (p, offer) in offers.iter().enumerate() {
            for &l in &offer.eligible {
                cover[l] |= 1 << p;
            }
        }
        let mut class_cover: Vec<u32> = Vec::new();
        let mut class_lines: Vec<Vec<usize>> = Vec::new();
        let mut class_of = vec![usize::MAX; cart.base.len()];
        for (l, &c) in cover.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let k = match class_cover.iter().position(|&k| k == c) {
                Some(k) => k,
                None => {
                    class_cover.push(c);
                    class_lines.push(Vec::new());
                    class_cover.len() - 1
                }
            };
            class_lines[k].push(l);
            class_of[l] = k;
        }
        scratch.work += (cart.base.len() * (1 + class_cover.len())) as u64;
        let classes_of = |set: u32| -> Vec<usize> {
            (0..class_cover.len())
                .filter(|&k| class_cover[k] & set != 0)
                .collect()
        };
        let offer_classes: Vec<Vec<usize>> = (0..n).map(|p| classes_of(1 << p)).collect();
        let mut reach = vec![Vec::new(); n + 1];
        for (p, r) in reach.iter_mut().enumerate().take(n) {
            *r = classes_of(u32::MAX.checked_shl(p as u32).unwrap_or(0));
        }
        let mut percent_group = vec![None; n];
        let mut group_sets: Vec<LineSet> = Vec::new();
        let mut groups = Vec::new();
        for (p, offer) in offers.iter().enumerate() {
            if offer.coupon.kind != CouponKind::Percent {
                continue;
            }
            let g = match group_sets.iter().position(|s| *s == offer.eligible_set) {
                Some(g) => g,
                None => {
                    group_sets.push(offer.eligible_set);
                    groups.push(offer_classes[p].clone());
                    groups.len() - 1
                }
            };
            percent_group[p] = Some(g);
        }
        let levels = vec![cart.base.clone(); n + 1];
        let class_left = vec![0; class_lines.len()];
        BestSet {
            cart,
            offers,
            needs_split,
            suffix_bound,
            class_lines,
            offer_classes,
            reach,
            percent_group,
            groups,
            levels,
            class_left,
            scratch,
            limit,
            stopped: false,
            best: Choice::NONE,
        }
    }

    fn mode(&self, p: usize) -> Mode<'static> {
        if self.needs_split[p] {
            Mode::Split
        } else {
            Mode::Lump
        }
    }

    /// The money saved by the offers at the positions in `taken` (one bit per position).
    fn evaluate(&mut self, taken: u32) -> i64 {
        let n = self.offers.len();
        let mut left = std::mem::take(&mut self.levels[n]);
        left.copy_from_slice(&self.cart.base);
        let mut savings = 0;
        for p in (0..n).filter(|p| taken & (1 << p) != 0) {
            let mode = self.mode(p);
            savings += apply(self.cart, self.offers[p], &mut left, mode, self.scratch);
        }
        self.levels[n] = left;
        savings
    }

    fn choice(&self, taken: u32, savings: i64) -> Choice {
        Choice {
            savings,
            non_monetary: 0,
            count: taken.count_ones(),
            mask: (0..self.offers.len())
                .filter(|p| taken & (1 << p) != 0)
                .fold(0, |mask, p| mask | 1 << self.offers[p].index),
        }
    }

    fn run(&mut self) -> Choice {
        // The incumbent: everything, then the best set one coupon smaller, while that is
        // better (rounding, caps and the fixed order are what can make a coupon lose money).
        let n = self.offers.len();
        let mut taken: u32 = if n == 32 { u32::MAX } else { (1 << n) - 1 };
        let all = self.evaluate(taken);
        self.best = self.choice(taken, all);
        while taken.count_ones() > 1 && self.scratch.work <= self.limit {
            let mut step = None;
            for p in (0..n).filter(|p| taken & (1 << p) != 0) {
                let smaller = taken & !(1 << p);
                let savings = self.evaluate(smaller);
                let choice = self.choice(smaller, savings);
                if choice.beats(&self.best) {
                    self.best = choice;
                    step = Some(smaller);
                }
            }
            match step {
                Some(smaller) => taken = smaller,
                None => break,
            }
        }
        self.visit(0, 0, 0, 0);
        self.best
    }

    fn consider(&mut self, savings: i64, count: u32, mask: u32) {
        if mask == 0 {
            return;
        }
        let choice = Choice {
            savings,
            non_monetary: 0,
            count,
            mask,
        };
        if choice.beats(&self.best) {
            self.best = choice;
        }
    }

    /// A bound on what offers `p..` can still take, tighter than the sum of their `caps` where
    /// percent coupons share lines: percent coupons with the same eligible lines compound.
    /// Such a group, applied in order to the `x` left on its lines, takes at most
    /// `x - h_k(...h_1(x))` with `h(y) = y - floor(y * rate / 10000)`, whatever else the set
    /// holds: every `h` and every `y - h(...)` is non-decreasing with slope at most 1, so other
    /// coupons taking from those lines first, between or after, and caps, only lower the
    /// group's take. The group's sum depends on its lines' total alone, which the search's
    /// `Mode::Lump` keeps exact (it is used only where every later coupon covers all or none of
    /// the lines), so the bound holds on the search's `left`. Other kinds count their cap.
    fn chained_bound(&mut self, p: usize, caps: &[i64]) -> i64 {
        let mut bound = 0;
        let mut seen = 0u64;
        for (q, cap) in (p..self.offers.len()).zip(caps) {
            let Some(g) = self.percent_group[q] else {
                bound += cap;
                continue;
            };
            // Each group once, at its first remaining member (at most 20 offers, so 20 groups).
            if seen & (1 << g) != 0 {
                continue;
            }
            seen |= 1 << g;
            self.scratch.work += self.groups[g].len() as u64;
            let start: i64 = self.groups[g].iter().map(|&k| self.class_left[k]).sum();
            let mut x = start;
            let mut group_caps = 0;
            for (r, cap) in (q..self.offers.len()).zip(&caps[q - p..]) {
                if self.percent_group[r] == Some(g) {
                    x -= percent_of(x, self.offers[r].coupon.percent_off.unwrap_or(0));
                    group_caps += cap;
                }
            }
            bound += (start - x).min(group_caps);
        }
        bound
    }

    /// At offer `p`, with `count` coupons taken (their `left` in `levels[count]`).
    fn visit(&mut self, p: usize, savings: i64, count: u32, mask: u32) {
        if self.scratch.work > self.limit {
            self.stopped = true;
            return;
        }
        if p == self.offers.len() {
            self.consider(savings, count, mask);
            return;
        }
        let depth = count as usize;
        let left = &self.levels[depth];
        let mut reachable = 0;
        for &k in &self.reach[p] {
            let sum = self.class_lines[k].iter().map(|&l| left[l]).sum();
            self.scratch.work += self.class_lines[k].len() as u64;
            self.class_left[k] = sum;
            reachable += sum;
        }
        let mut bound = savings + self.suffix_bound[p].min(reachable);
        if bound < self.best.savings {
            return;
        }
        // The cheap bound did not settle it: bound each remaining coupon by what it could take
        // from what is left now (much tighter deep in the tree).
        let mut caps: Vec<i64> = Vec::with_capacity(self.offers.len() - p);
        for q in p..self.offers.len() {
            let remaining = self.offer_classes[q]
                .iter()
                .map(|&k| self.class_left[k])
                .sum();
            self.scratch.work += self.offer_classes[q].len() as u64;
            caps.push(upper_bound_now(self.cart, self.offers[q], left, remaining));
        }
        bound = bound.min(savings + caps.iter().sum::<i64>());
        if bound < self.best.savings {
            return;
        }
        bound = bound.min(savings + self.chained_bound(p, &caps));
        if bound < self.best.savings {
            return;
        }
        if bound == self.best.savings {
            // Only a tie on money is left, so the set must not grow past the incumbent's size:
            // count the fewest remaining coupons that could make up the gap.
            let mut gap = self.best.savings - savings;
            let mut needed = 0u32;
            caps.sort_unstable_by(|a, b| b.cmp(a));
            for cap in caps {
                if gap <= 0 {
                    break;
                }
                gap -= cap;
                needed += 1;
            }
            if count + needed > self.best.count {
                return;
            }
            if count == self.best.count {
                self.consider(savings, count, mask);
                return;
            }
        }
        // Take offer p.
        let mode = self.mode(p);
        let (below, above) = self.levels.split_at_mut(depth + 1);
        let next = &mut above[0];
        next.copy_from_slice(&below[depth]);
        let discount = apply(self.cart, self.offers[p], next, mode, self.scratch);
        let bit = 1 << self.offers[p].index;
        self.visit(p + 1, savings + discount, count + 1, mask | bit);
        // Leave it.
        self.visit(p + 1, savings, count, mask);
    }
}
