//! The sheet codes of one bundle: distinct by construction, unpredictable, and drawn in
//! constant memory.
//!
//! Drawing random codes and remembering them to refuse a repeat costs memory in the roster
//! (a set of every code of the bundle). Instead the *n*-th page's code is a keyed pseudorandom
//! permutation of *n* over the code space: a Feistel network on 70 bits whose round function is
//! SHA-256 under a 256-bit key drawn once per bundle, walked until it lands inside the 31¹⁴
//! codes (≈ 69.4 bits, so under two rounds of the network a code on average). A permutation
//! never repeats; without the key, seeing some codes of a bundle tells nothing of the others.

use model::SheetCode;
use sha2::{Digest, Sha256};

const HALF_BITS: u32 = 35;
const HALF_MASK: u64 = (1 << HALF_BITS) - 1;
/// Rounds of the Feistel network: well past the four that make a pseudorandom permutation.
const ROUNDS: u8 = 8;

/// The codes of one bundle, in print order.
pub(crate) struct CodeSequence {
    key: [u8; 32],
    next: u64,
}

impl CodeSequence {
    /// A sequence keyed from `rng` (the thread's secure generator in production; a seeded one
    /// makes reproducible test bundles).
    pub(crate) fn new<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self { key, next: 0 }
    }

    /// The next code: never one this sequence gave before.
    pub(crate) fn next_code(&mut self) -> SheetCode {
        let n = self.next;
        self.next += 1;
        // Cycle walking: the network permutes 0..2^70, so re-encrypting what falls outside
        // the code space stays a permutation of the code space. `n` is a page number, far
        // below the space, so the walk ends.
        let mut x = u128::from(n);
        loop {
            x = self.permute(x);
            if let Some(code) = SheetCode::from_number(x) {
                return code;
            }
        }
    }

    fn permute(&self, x: u128) -> u128 {
        let (mut left, mut right) = ((x >> HALF_BITS) as u64 & HALF_MASK, x as u64 & HALF_MASK);
        for round in 0..ROUNDS {
            let f = self.round(round, right);
            (left, right) = (right, left ^ f);
        }
        (u128::from(left) << HALF_BITS) | u128::from(right)
    }

    fn round(&self, round: u8, half: u64) -> u64 {
        let digest = Sha256::new()
            .chain_update(self.key)
            .chain_update([round])
            .chain_update(half.to_le_bytes())
            .finalize();
        let mut word = [0u8; 8];
        word.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(word) & HALF_MASK
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::collections::HashSet;

    #[test]
    fn codes_are_distinct_valid_and_depend_on_the_key() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut a = CodeSequence::new(&mut rng);
        let mut b = CodeSequence::new(&mut rng);
        let codes: Vec<SheetCode> = (0..100_000).map(|_| a.next_code()).collect();
        let distinct: HashSet<&SheetCode> = codes.iter().collect();
        assert_eq!(distinct.len(), codes.len());
        for c in codes.iter().take(100) {
            assert_eq!(SheetCode::parse(&c.printed()).ok().as_ref(), Some(c));
        }
        let other: Vec<SheetCode> = (0..100).map(|_| b.next_code()).collect();
        assert!(other.iter().all(|c| !distinct.contains(c)));
    }

    #[test]
    fn the_permutation_is_invertible_so_never_repeats() {
        let seq = CodeSequence::new(&mut rand::rngs::StdRng::seed_from_u64(1));
        let unpermute = |mut y: u128| {
            let (mut left, mut right) = ((y >> HALF_BITS) as u64 & HALF_MASK, y as u64 & HALF_MASK);
            for round in (0..ROUNDS).rev() {
                (left, right) = (right ^ seq.round(round, left), left);
            }
            y = (u128::from(left) << HALF_BITS) | u128::from(right);
            y
        };
        for x in [0u128, 1, 2, 12_345, (1 << 70) - 1] {
            assert_eq!(unpermute(seq.permute(x)), x);
        }
    }
}
