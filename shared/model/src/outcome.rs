//! How a graded page turned out, in terms both the grader and the store use: which step
//! identified the sheet, and why a person should look at it. Typed from the pipeline to the
//! edge; the words a person reads are their `Display`.
//!
//! On the wire (`grader grade --json`, the database's `reason` column) a review reason is its
//! sentence; [`ReviewReason::from_str`] reads those sentences back, so a stored or printed
//! outcome round-trips to the same value (measurements to their printed precision).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which step of the identification chain named the sheet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifiedBy {
    /// rqrr on the crop of the expected QR region.
    QrRqrr,
    /// rxing on the crop of the expected QR region.
    QrRxing,
    /// A decoder on another binarisation or scale of the crop.
    QrVariant,
    /// A decoder on a wider search than the expected region.
    QrSearch,
    /// The grader's own OCR of the printed text id (templates of the known font), validated by
    /// its check symbol and the directory.
    OcrLocal,
    /// A cloud OCR (Cloud Vision) of the printed text id, validated by its check symbol and the
    /// directory. Before the two OCRs were told apart this was `ocr` (the only OCR then was an
    /// external reader), which still reads as this step.
    #[serde(alias = "ocr")]
    OcrVision,
    /// A person said whose sheet the page is.
    Person,
}

impl IdentifiedBy {
    /// Every step, in the order of the chain.
    pub const ALL: [IdentifiedBy; 7] = [
        IdentifiedBy::QrRxing,
        IdentifiedBy::QrRqrr,
        IdentifiedBy::QrVariant,
        IdentifiedBy::QrSearch,
        IdentifiedBy::OcrLocal,
        IdentifiedBy::OcrVision,
        IdentifiedBy::Person,
    ];

    /// The step's name as stored and printed, e.g. `qr-rxing`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentifiedBy::QrRqrr => "qr-rqrr",
            IdentifiedBy::QrRxing => "qr-rxing",
            IdentifiedBy::QrVariant => "qr-variant",
            IdentifiedBy::QrSearch => "qr-search",
            IdentifiedBy::OcrLocal => "ocr-local",
            IdentifiedBy::OcrVision => "ocr-vision",
            IdentifiedBy::Person => "person",
        }
    }

    /// The step named `name` (as [`IdentifiedBy::as_str`] writes it, or `ocr`, the name of the
    /// external OCR before there were two).
    pub fn from_name(name: &str) -> Option<Self> {
        if name == "ocr" {
            return Some(IdentifiedBy::OcrVision);
        }
        Self::ALL.into_iter().find(|b| b.as_str() == name)
    }

    /// Whether the step ran on this machine (a QR decoder or the local OCR), not in a cloud
    /// service nor by a person.
    pub fn is_local(self) -> bool {
        !matches!(self, IdentifiedBy::OcrVision | IdentifiedBy::Person)
    }
}

impl fmt::Display for IdentifiedBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why no sheet could be named for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unidentified {
    /// No decoder (nor OCR) read a code.
    QrUnreadable,
    /// A code was read, but it fails its check symbol or names no printed sheet.
    UnknownCode(String),
    /// The page matched no known page frame.
    NoPageFrame,
}

impl fmt::Display for Unidentified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unidentified::QrUnreadable => f.write_str("QR code unreadable"),
            Unidentified::UnknownCode(payload) => write!(
                f,
                "QR code read as {payload:?}, which is not a sheet of this bundle"
            ),
            Unidentified::NoPageFrame => f.write_str("no page frame"),
        }
    }
}

/// Why a person should look at a graded page.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewReason {
    /// These questions (numbers from 1) were neither clearly marked nor clearly blank.
    UncertainMarks(Vec<u32>),
    /// No sheet could be named for the page.
    Unidentified(Unidentified),
    /// The student-number grid of an anonymous sheet is empty.
    StudentNumberBlank,
    /// These digits (from 1) of the student-number grid hold no single clear mark.
    StudentNumberUnclear(Vec<u32>),
    /// The marks were read but the exam cannot score them (e.g. a version without a key).
    CannotScore(String),
    /// The hollow corner mark that tells the page's rotation is not distinct.
    OrientationUnclear {
        /// Hollowness of the most hollow mark.
        top: f32,
        /// Hollowness of the runner-up.
        second: f32,
    },
    /// Too few bubble outlines were found where the alignment puts them.
    AlignmentUnverified {
        /// Share of outlines found, 0–1.
        outlines_found: f32,
    },
    /// The paper is so dark that empty bubbles cannot be told from marked ones reliably.
    PageTooDark {
        /// Darkness of the empty bubbles, 0–1.
        empty_level: f32,
    },
    /// A booklet page holding the written answers of these open questions (numbers from 1):
    /// for a person to grade.
    WrittenAnswer(Vec<u32>),
}

fn numbers(list: &[u32]) -> String {
    list.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ReviewReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReviewReason::UncertainMarks(q) => {
                write!(f, "uncertain marks: question {}", numbers(q))
            }
            ReviewReason::Unidentified(why) => write!(f, "unidentified: {why}"),
            ReviewReason::StudentNumberBlank => f.write_str("student number not filled in"),
            ReviewReason::StudentNumberUnclear(d) => {
                write!(f, "student number unclear: digit {}", numbers(d))
            }
            ReviewReason::CannotScore(why) => write!(f, "cannot score: {why}"),
            ReviewReason::OrientationUnclear { top, second } => write!(
                f,
                "orientation unclear: hollow corner mark not distinct ({top:.2} vs {second:.2})"
            ),
            ReviewReason::AlignmentUnverified { outlines_found } => write!(
                f,
                "cannot verify alignment: only {:.0}% of bubble outlines where expected",
                outlines_found * 100.0
            ),
            ReviewReason::WrittenAnswer(q) => {
                write!(f, "written answer to grade: open question {}", numbers(q))
            }
            ReviewReason::PageTooDark { empty_level } => write!(
                f,
                "page too dark to read marks reliably (empty bubbles {:.0}% dark)",
                empty_level * 100.0
            ),
        }
    }
}

/// A sentence that is not one of [`ReviewReason`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a review reason: {0:?}")]
pub struct UnknownReason(pub String);

fn parse_numbers(list: &str) -> Option<Vec<u32>> {
    list.split(',').map(|n| n.trim().parse().ok()).collect()
}

fn parse_percent(text: &str, prefix: &str, suffix: &str) -> Option<f32> {
    let n: f32 = text
        .strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()?;
    Some(n / 100.0)
}

impl FromStr for ReviewReason {
    type Err = UnknownReason;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parsed = if let Some(list) = s.strip_prefix("uncertain marks: question ") {
            parse_numbers(list).map(ReviewReason::UncertainMarks)
        } else if let Some(why) = s.strip_prefix("unidentified: ") {
            Some(ReviewReason::Unidentified(match why {
                "QR code unreadable" => Unidentified::QrUnreadable,
                "no page frame" => Unidentified::NoPageFrame,
                other => {
                    let payload = other
                        .strip_prefix("QR code read as ")
                        .and_then(|p| p.strip_suffix(", which is not a sheet of this bundle"))
                        .and_then(|p| serde_json::from_str::<String>(p).ok());
                    match payload {
                        Some(p) => Unidentified::UnknownCode(p),
                        None => return Err(UnknownReason(s.to_string())),
                    }
                }
            }))
        } else if let Some(list) = s.strip_prefix("written answer to grade: open question ") {
            parse_numbers(list).map(ReviewReason::WrittenAnswer)
        } else if s == "student number not filled in" {
            Some(ReviewReason::StudentNumberBlank)
        } else if let Some(list) = s.strip_prefix("student number unclear: digit ") {
            parse_numbers(list).map(ReviewReason::StudentNumberUnclear)
        } else if let Some(why) = s.strip_prefix("cannot score: ") {
            Some(ReviewReason::CannotScore(why.to_string()))
        } else if let Some(pair) = s
            .strip_prefix("orientation unclear: hollow corner mark not distinct (")
            .and_then(|p| p.strip_suffix(')'))
        {
            pair.split_once(" vs ").and_then(|(a, b)| {
                Some(ReviewReason::OrientationUnclear {
                    top: a.parse().ok()?,
                    second: b.parse().ok()?,
                })
            })
        } else if s.starts_with("cannot verify alignment: ") {
            parse_percent(
                s,
                "cannot verify alignment: only ",
                "% of bubble outlines where expected",
            )
            .map(|outlines_found| ReviewReason::AlignmentUnverified { outlines_found })
        } else if s.starts_with("page too dark") {
            parse_percent(
                s,
                "page too dark to read marks reliably (empty bubbles ",
                "% dark)",
            )
            .map(|empty_level| ReviewReason::PageTooDark { empty_level })
        } else {
            None
        };
        parsed.ok_or_else(|| UnknownReason(s.to_string()))
    }
}

impl Serialize for ReviewReason {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReviewReason {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ReviewReason {
    /// `true` for the reasons that leave the page without a sheet.
    pub fn is_unidentified(&self) -> bool {
        matches!(self, ReviewReason::Unidentified(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_round_trips_through_its_sentence() {
        let reasons = [
            ReviewReason::UncertainMarks(vec![3, 17]),
            ReviewReason::Unidentified(Unidentified::QrUnreadable),
            ReviewReason::Unidentified(Unidentified::NoPageFrame),
            ReviewReason::Unidentified(Unidentified::UnknownCode("K7QM4-\"X".into())),
            ReviewReason::StudentNumberBlank,
            ReviewReason::StudentNumberUnclear(vec![2]),
            ReviewReason::CannotScore("version \"C\" has no key".into()),
            ReviewReason::OrientationUnclear {
                top: 0.25,
                second: 0.5,
            },
            ReviewReason::AlignmentUnverified {
                outlines_found: 0.5,
            },
            ReviewReason::PageTooDark { empty_level: 0.75 },
        ];
        for reason in reasons {
            let text = reason.to_string();
            assert_eq!(text.parse::<ReviewReason>(), Ok(reason.clone()), "{text}");
            let json = serde_json::to_string(&reason).expect("serialises");
            assert_eq!(json, serde_json::to_string(&text).expect("string"));
        }
        assert_eq!(
            ReviewReason::UncertainMarks(vec![3, 17]).to_string(),
            "uncertain marks: question 3, 17"
        );
        assert!("anything else".parse::<ReviewReason>().is_err());
    }

    #[test]
    fn identification_steps_round_trip_through_their_names() {
        for by in IdentifiedBy::ALL {
            assert_eq!(IdentifiedBy::from_name(by.as_str()), Some(by));
            let json = serde_json::to_string(&by).expect("serialises");
            assert_eq!(json, format!("\"{}\"", by.as_str()));
        }
    }

    #[test]
    fn the_old_name_of_the_external_ocr_reads_as_the_cloud_one() {
        assert_eq!(
            IdentifiedBy::from_name("ocr"),
            Some(IdentifiedBy::OcrVision)
        );
        let by: IdentifiedBy = serde_json::from_str("\"ocr\"").expect("reads");
        assert_eq!(by, IdentifiedBy::OcrVision);
        assert_eq!(IdentifiedBy::OcrLocal.as_str(), "ocr-local");
        assert!(IdentifiedBy::OcrLocal.is_local() && !IdentifiedBy::OcrVision.is_local());
    }
}
