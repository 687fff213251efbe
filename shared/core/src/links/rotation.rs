//! Strict weighted rotation as pure functions of one counter.
//!
//! A rotator's eligible members, with their weights, define a *cycle*: a sequence of length
//! `sum(weights)` (after dividing the weights by their greatest common divisor) in which member
//! `i` appears exactly `weights[i]` times. Click number `n` (the value the atomic counter returned,
//! starting at 1) goes to `cycle[(n - 1) % len]`, so any `k * len` consecutive clicks split exactly
//! in proportion to the weights, however many run concurrently.
//!
//! The cycle interleaves members smoothly: it is built like nginx's smooth weighted round-robin
//! (each step every member earns its weight, the member with the most credit is picked and pays the
//! total; ties go to the earlier member, so equal weights rotate in list order), with one extra
//! rule: no member is picked twice in a row — counting the wrap from the end of the cycle back to
//! its start — whenever the weights allow that (no member holds more than half the total). For
//! weights 1, 2, 1 this gives `B A B C`, never `B B`.

/// The rotation cycle of `weights` (each ≥ 1): indices into `weights`.
pub fn cycle(weights: &[u32]) -> Vec<u16> {
    debug_assert!(weights.len() <= usize::from(u16::MAX));
    if weights.is_empty() {
        return Vec::new();
    }
    let divisor = weights.iter().copied().fold(0, gcd).max(1);
    let weights: Vec<u64> = weights.iter().map(|&w| u64::from(w / divisor)).collect();
    let total: u64 = weights.iter().sum();
    let max = weights.iter().copied().max().unwrap_or(0);
    if weights.len() > 1 && 2 * max <= total {
        if let Some(cycle) = spread(&weights, total) {
            return cycle;
        }
    }
    smooth(&weights, total)
}

/// The position in a cycle of length `len` for counter value `counter` (the first click is 1).
pub fn position(counter: u64, len: usize) -> usize {
    debug_assert!(len > 0);
    (counter.wrapping_sub(1) % len as u64) as usize
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Plain smooth weighted round-robin.
fn smooth(weights: &[u64], total: u64) -> Vec<u16> {
    let mut credit = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, w) in weights.iter().enumerate() {
            credit[i] += *w as i64;
            if credit[i] > credit[best] {
                best = i;
            }
        }
        credit[best] -= total as i64;
        out.push(best as u16);
    }
    out
}

/// Smooth weighted round-robin that never repeats a member back to back, the cycle's wrap
/// included. Each step picks the member with the most credit among those that keep the rest of the
/// cycle arrangeable; `None` if no such member exists (not expected when `2 * max <= total`).
fn spread(weights: &[u64], total: u64) -> Option<Vec<u16>> {
    let n = weights.len();
    let mut credit = vec![0i64; n];
    let mut left: Vec<u64> = weights.to_vec();
    let mut out: Vec<u16> = Vec::with_capacity(total as usize);
    let mut order: Vec<usize> = Vec::with_capacity(n);
    for step in 0..total {
        for (i, w) in weights.iter().enumerate() {
            credit[i] += *w as i64;
        }
        let previous = out.last().map(|&p| usize::from(p));
        let first = out.first().map(|&f| usize::from(f));
        // Most credit first; ties in list order.
        order.clear();
        order.extend(0..n);
        order.sort_by(|&a, &b| credit[b].cmp(&credit[a]).then(a.cmp(&b)));
        let remaining_after = total - step - 1;
        let pick = order.iter().copied().find(|&i| {
            left[i] > 0
                && Some(i) != previous
                && arrangeable(&left, i, remaining_after, first.unwrap_or(i))
        })?;
        credit[pick] -= total as i64;
        left[pick] -= 1;
        out.push(pick as u16);
    }
    Some(out)
}

/// Whether, after taking one of `pick`, the remaining `len` items can be laid out with no two
/// equal neighbours, the first differing from `pick` and the last differing from `end` (the
/// cycle's first member, which follows the last one).
///
/// A line of `len` slots with no equal neighbours holds at most `ceil(len / 2)` of one member; one
/// barred from one end holds at most `floor(len / 2)`; one barred from both ends at most
/// `floor((len - 1) / 2)`. These bounds are also sufficient.
fn arrangeable(left: &[u64], pick: usize, len: u64, end: usize) -> bool {
    if len == 0 {
        return true;
    }
    left.iter().enumerate().all(|(i, &count)| {
        let count = if i == pick { count - 1 } else { count };
        let cap = match (i == pick, i == end) {
            (true, true) => (len - 1) / 2,
            (true, false) | (false, true) => len / 2,
            (false, false) => len.div_ceil(2),
        };
        count <= cap
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn letters(weights: &[u32]) -> String {
        cycle(weights)
            .into_iter()
            .map(|i| char::from(b'A' + i as u8))
            .collect()
    }

    fn counts(cycle: &[u16], members: usize) -> Vec<u64> {
        let mut counts = vec![0u64; members];
        for &i in cycle {
            counts[usize::from(i)] += 1;
        }
        counts
    }

    fn reduced(weights: &[u32]) -> Vec<u64> {
        let d = weights.iter().copied().fold(0, gcd);
        weights.iter().map(|&w| u64::from(w / d)).collect()
    }

    #[test]
    fn equal_weights_rotate_in_list_order() {
        assert_eq!(letters(&[1, 1, 1]), "ABC");
        assert_eq!(letters(&[3, 3, 3, 3]), "ABCD");
        assert_eq!(letters(&[7]), "A");
    }

    #[test]
    fn weights_one_two_one_alternate_the_heavy_member() {
        assert_eq!(letters(&[1, 2, 1]), "BABC");
        assert_eq!(letters(&[2, 1, 1]), "ABAC");
    }

    #[test]
    fn weights_are_interleaved_smoothly() {
        assert_eq!(letters(&[4, 1, 1, 1, 1]), "ABACADAE");
        assert_eq!(letters(&[2, 2, 1, 1]), "ABCDAB");
        // One member with more than half the total must repeat; it still spreads the others.
        assert_eq!(letters(&[5, 1, 1]), "AABACAA");
    }

    #[test]
    fn positions_start_at_the_first_click_and_wrap() {
        assert_eq!(position(1, 3), 0);
        assert_eq!(position(3, 3), 2);
        assert_eq!(position(4, 3), 0);
        assert_eq!(position(u64::MAX, 4), ((u64::MAX - 1) % 4) as usize);
    }

    /// Every small weight vector: the greedy never gives up where a repeat-free cycle exists.
    #[test]
    fn every_small_weight_vector_gets_a_repeat_free_cycle_when_one_exists() {
        for n in 2..=4usize {
            let mut weights = vec![1u32; n];
            loop {
                let w: Vec<u64> = weights.iter().map(|&x| u64::from(x)).collect();
                let total: u64 = w.iter().sum();
                if 2 * w.iter().max().unwrap() <= total {
                    assert!(spread(&w, total).is_some(), "no cycle for {weights:?}");
                }
                // Next weight vector in 1..=6 per member.
                let mut i = 0;
                while i < n && weights[i] == 6 {
                    weights[i] = 1;
                    i += 1;
                }
                if i == n {
                    break;
                }
                weights[i] += 1;
            }
        }
    }

    proptest! {
        #[test]
        fn any_whole_number_of_cycles_splits_exactly_by_weight(
            weights in prop::collection::vec(1u32..=100, 1..8),
            start in any::<u64>(),
            k in 1u64..4,
        ) {
            let cycle = cycle(&weights);
            let reduced = reduced(&weights);
            let len = cycle.len();
            prop_assert_eq!(len as u64, reduced.iter().sum::<u64>());
            let mut got = vec![0u64; weights.len()];
            for offset in 0..(len as u64 * k) {
                let counter = start.wrapping_add(offset);
                got[usize::from(cycle[position(counter, len)])] += 1;
            }
            let want: Vec<u64> = reduced.iter().map(|w| w * k).collect();
            prop_assert_eq!(got, want);
        }

        #[test]
        fn no_member_twice_in_a_row_when_the_weights_allow_it(
            weights in prop::collection::vec(1u32..=100, 2..8),
        ) {
            let reduced = reduced(&weights);
            let total: u64 = reduced.iter().sum();
            let cycle = cycle(&weights);
            prop_assert_eq!(counts(&cycle, weights.len()), reduced.clone());
            if 2 * reduced.iter().max().unwrap() <= total {
                for i in 0..cycle.len() {
                    let next = cycle[(i + 1) % cycle.len()];
                    prop_assert_ne!(cycle[i], next, "repeat at {} in {:?}", i, cycle);
                }
            }
        }

        #[test]
        fn every_prefix_stays_close_to_the_ideal_share(
            weights in prop::collection::vec(1u32..=20, 1..8),
        ) {
            let reduced = reduced(&weights);
            let total: u64 = reduced.iter().sum();
            let cycle = cycle(&weights);
            let mut seen = vec![0u64; weights.len()];
            for (t, &i) in cycle.iter().enumerate() {
                seen[usize::from(i)] += 1;
                for (m, &w) in reduced.iter().enumerate() {
                    let ideal = (t as f64 + 1.0) * w as f64 / total as f64;
                    prop_assert!((seen[m] as f64 - ideal).abs() < 2.0,
                        "member {} at step {}: {} vs {:.2} in {:?}", m, t, seen[m], ideal, cycle);
                }
            }
        }
    }
}
