//! The discount (pricing) engine: prices a cart for a member with the coupon codes the client
//! sent. Pure Rust, no PyO3 types; `python_pricing` converts (the one reader of a request). The
//! readable specification of the same rules is `gateway/discounts/reference.py`; docs/PRICING.md
//! is the long form of this page.
//!
//! # Amounts
//! Money is i64 cents; a line is `unit_price * qty` (at most 10^12), a cart at most 2*10^14.
//! Every product that could leave i64 (`amount * rate`, `amount * weight`) is taken in i128.
//! Rates are basis points. A percent discount is `floor(amount * rate / 10000)`.
//!
//! # Member discount
//! The rate is the tier rate, or on the birthday the larger of the tier and birthday rates,
//! never both. It is taken on the subtotal (`floor(subtotal * rate / 10000)`, one rounding for
//! the cart) and split over the lines in proportion to their amounts (largest remainder).
//!
//! # Which codes can apply (one reason per rejected code, first match wins)
//! 1. `duplicate`: the same code string appeared earlier in the request (codes arrive
//!    normalised; the first occurrence is judged on its own).
//! 2. `not_found`: `found` is false.
//! 3. `not_owner`: the code belongs to someone else (nothing more is revealed about it).
//! 4. the coupon's state: `transferred`, `revoked`, `redeemed`, `reserved`, `expired`.
//! 5. `not_yet_valid`: `now < valid_from`.
//! 6. `expired`: `now >= valid_until`.
//! 7. `wrong_channel`: `channels` is not empty and lacks the request's channel.
//! 8. `wrong_store`: in store, `scope_stores` is not empty and lacks `store_id` (or it is None).
//! 9. `out_of_scope`: no eligible line. A line is eligible when its sku is in `scope_skus` or
//!    its category in `scope_categories`, or both lists are empty; for `exchange` the line must
//!    also hold the coupon's `sku`.
//! 10. `below_threshold`: `min_spend` is set (any kind) and the eligible lines, at the price the
//!     coupons see (below), sum to less.
//! 11. `not_stackable`: the code passed every check above but is not in the chosen set.
//!
//! # The price coupons see
//! With `coupons_on_member_price` (折上折) coupons work on each line's amount after its member
//! share. Without it the cart gets the member discount or its coupons: coupons then work on the
//! list amounts (thresholds too), and the engine keeps whichever plan saves more money; on a tie
//! the member discount (the coupons stay in the wallet), unless the coupon plan brings more gift
//! or points coupons. Gift and points coupons take no money,
//! so they still apply next to the member discount. When the member discount is 0 the policy
//! makes no difference.
//!
//! # Applying a set of coupons
//! In this order: exchange coupons, then percent coupons, then amount and threshold coupons
//! (within a kind group, the order of the codes); gift and points coupons take nothing. Each
//! works on what is left of its eligible lines:
//! - exchange: one unit free, worth `floor(line amount seen by coupons / qty)`, at most what is
//!   left of the line, taken from the eligible line where it is worth most (ties: first line);
//! - percent: `floor(left * percent_off / 10000)`, at most `max_discount`;
//! - amount, threshold: `min(amount_off, left)`.
//!
//! The discount is split over the eligible lines in proportion to what is left of each (largest
//! remainder, ties to the lower line). So no discount exceeds its eligible amount, the shares
//! sum to each discount, and the total never goes negative.
//!
//! # Choosing the set
//! The candidate sets are each usable non-stackable code alone, and every non-empty set of usable
//! stackable codes. The chosen set saves the most money; ties: the most gift and points coupons
//! (they are worth something to the holder), then the fewest coupons, then the set whose sorted
//! code positions come first. Hence stackable gift and points coupons always join a stackable
//! set, and a code that would only add nothing is left out (`not_stackable`).
//!
//! The search: non-stackable codes are each priced alone; stackable money codes go through a
//! branch and bound over their subsets (`engine::Search`) that starts from the whole set and
//! cuts a branch once its upper bound cannot beat the best set so far (or, when only a tie on
//! money is left, once the set would grow past the best set's size). Percent coupons with the
//! same eligible lines are bounded together, as they compound (`Search::chained_bound`). Adding a coupon almost
//! never lowers the total (caps and the fixed order can make it), so the whole set is usually
//! optimal and most branches die at once. Every line operation counts in `Quote::work`; past
//! `engine::WORK_BUDGET` the search stops and the quote says `Search::Bounded` (the best set
//! found so far) instead of `Search::Exact` (docs/PRICING.md, "Worst cases").
//!
//! # Points
//! Per line, `floor(paid * points_per_yuan * points_multiplier / 100)` in i128, where `paid` is
//! the line's amount less its member share (when the member discount applies) and its share of
//! every applied coupon, and `points_multiplier` is the line's (1..=10, absent: 1); summed over
//! the lines, plus the `points` of every applied points coupon (积分券). The engine reads `paid`
//! off what the chosen coupons left of each line (`engine::price_within`), allocating nothing.

pub mod engine;
pub mod errors;
pub mod json;
pub mod model;
pub mod rules;
pub mod split;
pub mod validate;

pub use engine::{price, price_valid, price_within, WORK_BUDGET};
pub use errors::InputError;
pub use model::{
    Applied, Candidate, Channel, Coupon, CouponKind, CouponState, Line, LineShare, Member, Quote,
    Reason, Rejected, Request, Search, Text, QUOTE_FIELDS,
};
