//! The sheet code: the random, unguessable identity printed on every page, both as a QR code and
//! as large text for OCR.
//!
//! A code is [`DATA_LEN`] random symbols from a 31-symbol alphabet (≈ 69 bits) followed by one
//! check symbol. The alphabet is Crockford's base-32 without `Z` (too close to `2`), so that its
//! size is prime: with a prime modulus and distinct non-zero position weights whose neighbours
//! differ, the check symbol catches every single-symbol substitution and every adjacent
//! transposition (see the property tests). It prints as three groups of five
//! (`K7QM4-XRT9H-WDA3C`); the QR payload is the bare 15 symbols, which QR's alphanumeric mode
//! packs into a version-1 code even at error correction Q.

use std::fmt;
use std::str::FromStr;

use rand::RngExt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The symbols a code is written in. Its length is prime; see the module docs.
pub const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKMNPQRSTVWXY";
/// Random symbols in a code.
pub const DATA_LEN: usize = 14;
/// Symbols in a code, check symbol included.
pub const CODE_LEN: usize = DATA_LEN + 1;
/// Symbols per printed group.
pub const GROUP_LEN: usize = 5;
/// Characters of the printed form: the symbols and the dashes between groups.
pub const PRINTED_LEN: usize = CODE_LEN + CODE_LEN / GROUP_LEN - 1;

const MODULUS: u32 = ALPHABET.len() as u32;

/// A validated sheet code (its check symbol holds).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SheetCode([u8; CODE_LEN]);

/// Why a string is not a sheet code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetCodeError {
    /// Wrong number of symbols once separators are removed.
    #[error("a sheet code has {CODE_LEN} symbols, found {0}")]
    Length(usize),
    /// A character that is not in the alphabet and is not a known look-alike of one.
    #[error("{0:?} is not a sheet-code symbol")]
    Symbol(char),
    /// Every symbol is valid, but the check symbol does not match: a misread, not another sheet.
    #[error("check symbol does not match (misread code)")]
    Check,
}

fn weight(position: usize) -> u32 {
    // Weights 1..=15: non-zero mod 31, and neighbours differ by 1, so transpositions show.
    position as u32 + 1
}

fn check_symbol(data: &[u8]) -> u8 {
    let sum: u32 = data
        .iter()
        .enumerate()
        .map(|(i, &d)| weight(i) * u32::from(d))
        .sum();
    // Choose c so that sum + weight(DATA_LEN)·c ≡ 0 (mod 31). weight(DATA_LEN) = 15, and
    // 15 · 2 = 30 ≡ −1, so c ≡ 2·sum.
    ((2 * sum) % MODULUS) as u8
}

/// Maps one character to its symbol value, accepting the usual OCR and handwriting look-alikes.
fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        'U' => 'V',
        'Z' => '2',
        other => other,
    };
    ALPHABET
        .iter()
        .position(|&a| a as char == c)
        .map(|p| p as u8)
}

/// How many distinct codes there are: every choice of the [`DATA_LEN`] data symbols.
pub const CODE_SPACE: u128 = (MODULUS as u128).pow(DATA_LEN as u32);

impl SheetCode {
    /// The code whose data symbols write `n` in base 31 (most significant first), or `None`
    /// when `n` is not below [`CODE_SPACE`]: a bijection, so distinct numbers give distinct
    /// codes.
    pub fn from_number(mut n: u128) -> Option<Self> {
        if n >= CODE_SPACE {
            return None;
        }
        let mut symbols = [0u8; CODE_LEN];
        for s in symbols[..DATA_LEN].iter_mut().rev() {
            *s = (n % u128::from(MODULUS)) as u8;
            n /= u128::from(MODULUS);
        }
        symbols[DATA_LEN] = check_symbol(&symbols[..DATA_LEN]);
        Some(Self(symbols))
    }

    /// A fresh code from the thread's cryptographically secure generator.
    pub fn random() -> Self {
        Self::random_with(&mut rand::rng())
    }

    /// A fresh code from the given generator (seeded generators make reproducible test bundles).
    pub fn random_with<R: rand::Rng + ?Sized>(rng: &mut R) -> Self {
        let mut symbols = [0u8; CODE_LEN];
        for s in symbols.iter_mut().take(DATA_LEN) {
            *s = rng.random_range(0..MODULUS as u8);
        }
        symbols[DATA_LEN] = check_symbol(&symbols[..DATA_LEN]);
        Self(symbols)
    }

    /// Parses a code as printed, as OCR'd or as typed: case, spaces, dashes and look-alike letters
    /// (`O`→`0`, `I`/`L`→`1`, `U`→`V`, `Z`→`2`) are forgiven; a wrong check symbol is not.
    pub fn parse(text: &str) -> Result<Self, SheetCodeError> {
        let mut symbols = [0u8; CODE_LEN];
        let mut n = 0;
        for c in text.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let v = symbol_value(c).ok_or(SheetCodeError::Symbol(c))?;
            if n < CODE_LEN {
                symbols[n] = v;
            }
            n += 1;
        }
        if n != CODE_LEN {
            return Err(SheetCodeError::Length(n));
        }
        if check_symbol(&symbols[..DATA_LEN]) != symbols[DATA_LEN] {
            return Err(SheetCodeError::Check);
        }
        Ok(Self(symbols))
    }

    /// The bare symbols, the QR payload: only characters of QR's alphanumeric mode.
    pub fn qr_payload(&self) -> String {
        self.0
            .iter()
            .map(|&v| ALPHABET[v as usize] as char)
            .collect()
    }

    /// The QR symbol of this code: the bare symbols as ONE alphanumeric segment in a version-1
    /// code at error correction Q (96 of its 104 data bits).
    ///
    /// qrcode's automatic segmentation switches to numeric mode for a long run of digits (e.g.
    /// `6XEN42825268PPX`) and the extra segment headers overflow version 1-Q, so the segment is
    /// built by hand. Every code fits; the error is unreachable but kept typed.
    pub fn qr_code(&self) -> Result<qrcode::QrCode, qrcode::types::QrError> {
        let mut bits = qrcode::bits::Bits::new(qrcode::Version::Normal(1));
        bits.push_alphanumeric_data(self.qr_payload().as_bytes())?;
        bits.push_terminator(qrcode::EcLevel::Q)?;
        qrcode::QrCode::with_bits(bits, qrcode::EcLevel::Q)
    }

    /// The grouped form printed under the QR code, e.g. `K7QM4-XRT9H-WDA3C`.
    pub fn printed(&self) -> String {
        let bare = self.qr_payload();
        let groups: Vec<&str> = bare
            .as_bytes()
            .chunks(GROUP_LEN)
            .map(|g| std::str::from_utf8(g).unwrap_or_default())
            .collect();
        groups.join("-")
    }
}

impl fmt::Display for SheetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.printed())
    }
}

impl fmt::Debug for SheetCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SheetCode({})", self.printed())
    }
}

impl FromStr for SheetCode {
    type Err = SheetCodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for SheetCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.printed())
    }
}

impl<'de> Deserialize<'de> for SheetCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl SheetCode {
    /// A regular expression of a well-formed code, as printed (for schemas).
    pub const PATTERN: &str = "^[0-9A-HJKMNP-TV-Y]{5}-[0-9A-HJKMNP-TV-Y]{5}-[0-9A-HJKMNP-TV-Y]{5}$";
}

impl schemars::JsonSchema for SheetCode {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SheetCode".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "Sheet code: three dash-separated groups of five symbols, the last one a check symbol",
            "pattern": SheetCode::PATTERN
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn code_from_seed(seed: u64) -> SheetCode {
        SheetCode::random_with(&mut rand::rngs::StdRng::seed_from_u64(seed))
    }

    #[test]
    fn printed_form_round_trips_and_fits_qr_version_1_q() {
        let code = code_from_seed(7);
        assert_eq!(code.printed().len(), PRINTED_LEN);
        assert_eq!(SheetCode::parse(&code.printed()), Ok(code));
        assert_eq!(
            SheetCode::parse(&code.qr_payload().to_lowercase()),
            Ok(code)
        );
        let qr = qrcode::QrCode::with_error_correction_level(
            code.qr_payload().as_bytes(),
            qrcode::EcLevel::Q,
        )
        .expect("encodes");
        assert_eq!(qr.version(), qrcode::Version::Normal(1));
    }

    #[test]
    fn carries_at_least_60_random_bits() {
        let bits = DATA_LEN as f64 * (ALPHABET.len() as f64).log2();
        assert!(bits >= 60.0, "{bits} bits");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn every_single_substitution_is_caught(seed: u64, pos in 0..CODE_LEN, delta in 1..31u8) {
            let code = code_from_seed(seed);
            let mut bad = code.0;
            bad[pos] = (bad[pos] + delta) % 31;
            let text: String = bad.iter().map(|&v| ALPHABET[v as usize] as char).collect();
            prop_assert_eq!(SheetCode::parse(&text), Err(SheetCodeError::Check));
        }

        #[test]
        fn every_adjacent_transposition_is_caught(seed: u64, pos in 0..CODE_LEN - 1) {
            let code = code_from_seed(seed);
            let mut bad = code.0;
            prop_assume!(bad[pos] != bad[pos + 1]);
            bad.swap(pos, pos + 1);
            let text: String = bad.iter().map(|&v| ALPHABET[v as usize] as char).collect();
            prop_assert_eq!(SheetCode::parse(&text), Err(SheetCodeError::Check));
        }
    }
}
