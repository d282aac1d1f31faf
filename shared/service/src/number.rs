//! Numbers in JSON bodies as JSON Schema reads them: `integer` accepts `56` and `56.0` alike, and
//! some clients' encoders (Python floats, JavaScript arithmetic) write whole numbers with a
//! fraction. serde's integers refuse `56.0`; these helpers take it.

use serde::{Deserialize, Deserializer, de::Error};

/// `#[serde(deserialize_with = "service::number::whole")]`: a whole number that fits `T`,
/// written with or without a zero fraction.
pub fn whole<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<u64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let value = match number.as_u64() {
        Some(n) => n,
        None => match number.as_f64() {
            Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => f as u64,
            _ => {
                return Err(D::Error::custom(format!(
                    "expected a whole number, found {number}"
                )));
            }
        },
    };
    T::try_from(value).map_err(|_| D::Error::custom(format!("{number} is out of range")))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Body {
        #[serde(deserialize_with = "super::whole")]
        n: u32,
    }

    fn read(json: &str) -> Result<u32, String> {
        serde_json::from_str::<Body>(json)
            .map(|b| b.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_are_read_with_or_without_a_zero_fraction() {
        assert_eq!(read(r#"{"n": 56}"#), Ok(56));
        assert_eq!(read(r#"{"n": 56.0}"#), Ok(56));
        assert!(read(r#"{"n": 56.5}"#).is_err());
        assert!(read(r#"{"n": -1}"#).is_err());
        assert!(read(r#"{"n": 5e12}"#).is_err());
        assert!(read(r#"{"n": "5"}"#).is_err());
    }
}
