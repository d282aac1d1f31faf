//! The roster: a UTF-8 CSV with header `student_id,name,class`, one student a row.

use std::collections::HashSet;
use std::io::Read;

use serde::{Deserialize, Serialize};

/// A student on the roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Student {
    /// The school's identifier for the student; unique within the roster.
    pub student_id: String,
    /// Full name, printed on the sheet (accents welcome).
    pub name: String,
    /// Class or group, printed on the sheet.
    #[serde(default)]
    pub class: String,
}

/// Most characters of a student's id.
pub const MAX_STUDENT_ID_CHARS: usize = 64;
/// Most characters of a student's name (longer would not fit the printed name box legibly).
pub const MAX_NAME_CHARS: usize = 120;
/// Most characters of a class.
pub const MAX_CLASS_CHARS: usize = 40;

impl Student {
    /// Checks the length of every field; the error names the field, e.g.
    /// `name: 500 characters, at most 120`.
    pub fn check_lengths(&self) -> Result<(), String> {
        for (field, text, max) in [
            ("student_id", &self.student_id, MAX_STUDENT_ID_CHARS),
            ("name", &self.name, MAX_NAME_CHARS),
            ("class", &self.class, MAX_CLASS_CHARS),
        ] {
            crate::exam::check_length(text, max).map_err(|e| format!("{field}: {e}"))?;
        }
        Ok(())
    }
}

/// A roster that cannot be used, with the CSV row (1 = header) that shows it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("roster row {row}: {message}")]
pub struct RosterError {
    /// The CSV line number, the header being row 1.
    pub row: u64,
    /// What is wrong.
    pub message: String,
}

/// The columns a roster must have.
pub const ROSTER_HEADER: [&str; 3] = ["student_id", "name", "class"];

/// Reads a roster in roster order. Extra columns are ignored; the three named ones are required.
pub fn read_roster(input: impl Read) -> Result<Vec<Student>, RosterError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| RosterError {
            row: 1,
            message: csv_message(&e),
        })?
        .clone();
    let column = |name: &str| header.iter().position(|h| h == name);
    let (Some(id_col), Some(name_col), Some(class_col)) =
        (column("student_id"), column("name"), column("class"))
    else {
        return Err(RosterError {
            row: 1,
            message: format!(
                "header must name the columns {}, found {:?}",
                ROSTER_HEADER.join(","),
                header.iter().collect::<Vec<_>>().join(",")
            ),
        });
    };
    let mut students = Vec::new();
    let mut ids = HashSet::new();
    for record in reader.records() {
        let record = record.map_err(|e| RosterError {
            row: e.position().map_or(0, |p| p.line()),
            message: csv_message(&e),
        })?;
        let row = record.position().map_or(0, |p| p.line());
        let field = |i: usize| record.get(i).unwrap_or_default().to_string();
        let student = Student {
            student_id: field(id_col),
            name: field(name_col),
            class: field(class_col),
        };
        if student.student_id.is_empty() {
            return Err(RosterError {
                row,
                message: "student_id is empty".into(),
            });
        }
        if student.name.is_empty() {
            return Err(RosterError {
                row,
                message: "name is empty".into(),
            });
        }
        student
            .check_lengths()
            .map_err(|message| RosterError { row, message })?;
        if !ids.insert(student.student_id.clone()) {
            return Err(RosterError {
                row,
                message: format!("student_id {:?} appears twice", student.student_id),
            });
        }
        students.push(student);
    }
    if students.is_empty() {
        return Err(RosterError {
            row: 2,
            message: "the roster lists no student".into(),
        });
    }
    Ok(students)
}

fn csv_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 (save the roster as UTF-8 CSV)".into(),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("has {len} fields, the header has {expected_len}")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_accented_names_in_order() {
        let csv = "\u{feff}student_id,name,class\n001,José Conceição,3ºA\n002, Ana Lúcia ,3ºB\n";
        let students = read_roster(csv.as_bytes()).expect("valid");
        assert_eq!(students.len(), 2);
        assert_eq!(students[0].name, "José Conceição");
        assert_eq!(students[1].name, "Ana Lúcia");
        assert_eq!(students[1].class, "3ºB");
    }

    #[test]
    fn errors_name_the_row() {
        let dup = "student_id,name,class\n1,A,x\n2,B,x\n1,C,x\n";
        assert_eq!(read_roster(dup.as_bytes()).unwrap_err().row, 4);
        let short = "student_id,name,class\n1,A,x\n2,B\n";
        assert_eq!(read_roster(short.as_bytes()).unwrap_err().row, 3);
        let header = "id,name\n1,A\n";
        assert_eq!(read_roster(header.as_bytes()).unwrap_err().row, 1);
        let long = format!(
            "student_id,name,class\n1,A,x\n2,B,x\n3,{},x\n",
            "é".repeat(121)
        );
        let err = read_roster(long.as_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "roster row 4: name: 121 characters, at most 120"
        );
        let at_limit = format!(
            "student_id,name,class\n1,{},{}\n",
            "é".repeat(120),
            "x".repeat(40)
        );
        assert_eq!(
            read_roster(at_limit.as_bytes())
                .expect("at the limit")
                .len(),
            1
        );
        let class = format!("student_id,name,class\n1,A,{}\n", "x".repeat(41));
        assert!(
            read_roster(class.as_bytes())
                .unwrap_err()
                .message
                .starts_with("class: 41 characters")
        );
        let latin1: &[u8] = b"student_id,name,class\n1,Jos\xe9,x\n";
        let err = read_roster(latin1).unwrap_err();
        assert_eq!(err.row, 2, "{err}");
        assert!(err.message.contains("UTF-8"));
    }
}
