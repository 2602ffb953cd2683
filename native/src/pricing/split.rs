//! Largest-remainder splitting of a discount over lines, in whole cents.

/// Splits `amount` over `weights` in proportion, in whole cents: each share is first
/// `floor(amount * weight / total)`, then the cents left over go one each to the largest
/// remainders (ties: the lower index). Writes the shares to `out`, one per weight.
///
/// With `0 <= amount <= sum(weights)` and non-negative weights, every share lies in
/// `0..=weight` and the shares sum to `amount` (a line with a positive remainder has a quotient
/// strictly below its weight, so its extra cent still fits). Products are taken in i128:
/// `amount * weight` reaches 4e28 for the largest carts.
pub fn largest_remainder(amount: i64, weights: &[i64], out: &mut Vec<i64>) {
    largest_remainder_in(amount, weights, out, &mut Vec::new());
}

/// `largest_remainder` with a buffer for the remainders, so that the best-set search, which
/// splits at every node, allocates nothing.
pub fn largest_remainder_in(
    amount: i64,
    weights: &[i64],
    out: &mut Vec<i64>,
    remainders: &mut Vec<(i128, usize)>,
) {
    out.clear();
    out.resize(weights.len(), 0);
    remainders.clear();
    let total: i128 = weights.iter().map(|&w| w as i128).sum();
    if amount <= 0 || total <= 0 {
        return;
    }
    let max_weight = weights.iter().copied().max().unwrap_or(0);
    let given = if (amount as i128) * (max_weight as i128) <= i64::MAX as i128 {
        // Every product fits in 64 bits (the usual cart): u64 division is several times faster
        // than i128's, and the quotients and remainders are the same numbers.
        let (amount, total) = (amount as u64, total as u64);
        let mut given = 0u64;
        for (i, &w) in weights.iter().enumerate() {
            let product = amount * w as u64;
            out[i] = (product / total) as i64;
            given += product / total;
            let remainder = product % total;
            if remainder > 0 {
                remainders.push((remainder as i128, i));
            }
        }
        given as i128
    } else {
        let amount_wide = amount as i128;
        let mut given: i128 = 0;
        for (i, &w) in weights.iter().enumerate() {
            let product = amount_wide * w as i128;
            let share = product / total;
            out[i] = share as i64;
            given += share;
            let remainder = product % total;
            if remainder > 0 {
                remainders.push((remainder, i));
            }
        }
        given
    };
    let left_over = (amount as i128 - given) as usize;
    if left_over > 0 {
        // Only which remainders are the `left_over` largest matters, not their order: a
        // selection instead of a sort. (remainder, index) pairs are distinct, so the order is
        // total and the chosen set is the same as a sort's.
        let order = |a: &(i128, usize), b: &(i128, usize)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
        if left_over < remainders.len() {
            remainders.select_nth_unstable_by(left_over - 1, order);
        }
        for &(_, i) in remainders.iter().take(left_over) {
            out[i] += 1;
        }
    }
}
