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
    out.clear();
    out.resize(weights.len(), 0);
    let total: i128 = weights.iter().map(|&w| w as i128).sum();
    if amount <= 0 || total <= 0 {
        return;
    }
    let amount_wide = amount as i128;
    let mut given: i128 = 0;
    let mut remainders: Vec<(i128, usize)> = Vec::new();
    for (i, &w) in weights.iter().enumerate() {
        let product = amount_wide * w as i128;
        let share = product / total;
        let remainder = product % total;
        out[i] = share as i64;
        given += share;
        if remainder > 0 {
            remainders.push((remainder, i));
        }
    }
    let left_over = (amount_wide - given) as usize;
    if left_over > 0 {
        remainders.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in remainders.iter().take(left_over) {
            out[i] += 1;
        }
    }
}
