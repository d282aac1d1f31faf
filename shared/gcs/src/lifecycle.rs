//! Retention: Cloud Storage lifecycle rules (`deploy/lifecycle.json`, the file
//! `gcloud storage buckets update gs://BUCKET --lifecycle-file=…` takes), read here so that the
//! same rules can be enforced on a local folder (`grader retention`).
//!
//! Only `Delete` rules with an `age` (days since the object was written) and `matchesPrefix`
//! are understood; a file with any other rule is refused rather than half-applied. Prefixes
//! match object names, which put the kind first ([`crate::object_name`]): `scans/` is every
//! tenant's scans.

use serde::Deserialize;

/// The rules shipped in `deploy/lifecycle.json`: scans (and the inbox and uploads they come
/// from) 365 days, bundles 180, annotated images 30.
pub const DEFAULT_RULES: &str = include_str!("../../../deploy/lifecycle.json");

/// Why a lifecycle file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LifecycleError {
    /// Not the JSON of a lifecycle configuration.
    #[error("not a Cloud Storage lifecycle configuration: {0}")]
    Json(#[from] serde_json::Error),
    /// A rule this enforcement does not understand.
    #[error("rule {index}: {why} (only Delete rules with an age and matchesPrefix are supported)")]
    Unsupported {
        /// The rule's index, from 0.
        index: usize,
        /// What is wrong with it.
        why: String,
    },
}

/// One retention rule: objects whose name starts with one of `prefixes` are deleted `age_days`
/// days after they were written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionRule {
    /// Days kept.
    pub age_days: u32,
    /// Object-name prefixes (`scans/`).
    pub prefixes: Vec<String>,
}

/// Rules, in the file's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    /// The rules.
    pub rules: Vec<RetentionRule>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum File {
    Wrapped { lifecycle: Rules },
    Bare(Rules),
}

#[derive(Deserialize)]
struct Rules {
    rule: Vec<Rule>,
}

#[derive(Deserialize)]
struct Rule {
    action: Action,
    condition: Condition,
}

#[derive(Deserialize)]
struct Action {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Condition {
    age: Option<u32>,
    #[serde(default)]
    matches_prefix: Vec<String>,
    #[serde(flatten)]
    other: serde_json::Map<String, serde_json::Value>,
}

impl Retention {
    /// Parses a lifecycle file (`{"rule": […]}` or `{"lifecycle": {"rule": […]}}`).
    pub fn parse(json: &str) -> Result<Self, LifecycleError> {
        let rules = match serde_json::from_str::<File>(json)? {
            File::Wrapped { lifecycle } => lifecycle.rule,
            File::Bare(rules) => rules.rule,
        };
        let mut out = Vec::with_capacity(rules.len());
        for (index, rule) in rules.into_iter().enumerate() {
            let bad = |why: String| LifecycleError::Unsupported { index, why };
            if rule.action.kind != "Delete" {
                return Err(bad(format!("action {:?}", rule.action.kind)));
            }
            if let Some(other) = rule.condition.other.keys().next() {
                return Err(bad(format!("condition {other:?}")));
            }
            let age_days = rule.condition.age.ok_or_else(|| bad("no age".into()))?;
            if rule.condition.matches_prefix.is_empty() {
                return Err(bad("no matchesPrefix".into()));
            }
            out.push(RetentionRule {
                age_days,
                prefixes: rule.condition.matches_prefix,
            });
        }
        Ok(Self { rules: out })
    }

    /// The days an object named `name` is kept: the first rule whose prefix it matches (Cloud
    /// Storage deletes at the earliest matching rule, so the least of them); `None` when no
    /// rule matches (kept for ever).
    pub fn age_days(&self, name: &str) -> Option<u32> {
        self.rules
            .iter()
            .filter(|r| r.prefixes.iter().any(|p| name.starts_with(p.as_str())))
            .map(|r| r.age_days)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object_name;

    #[test]
    fn the_shipped_rules_keep_each_kind_its_time() {
        let r = Retention::parse(DEFAULT_RULES).expect("deploy/lifecycle.json");
        let days = |key: &str| r.age_days(&object_name("", key));
        assert_eq!(days("escola-a/scans/ab/abcdef"), Some(365));
        assert_eq!(days("escola-a/inbox/lote.pdf"), Some(365));
        assert_eq!(days("escola-a/uploads/up_1_a.pdf"), Some(365));
        assert_eq!(days("escola-a/bundles/b1/bundle.pdf"), Some(180));
        assert_eq!(days("escola-a/annotated/1/1.png"), Some(30));
        assert_eq!(days("escola-a/other/x"), None);
    }

    #[test]
    fn rules_it_cannot_enforce_are_refused() {
        for bad in [
            r#"{"rule":[{"action":{"type":"SetStorageClass","storageClass":"COLDLINE"},"condition":{"age":3,"matchesPrefix":["a/"]}}]}"#,
            r#"{"rule":[{"action":{"type":"Delete"},"condition":{"age":3}}]}"#,
            r#"{"rule":[{"action":{"type":"Delete"},"condition":{"matchesPrefix":["a/"]}}]}"#,
            r#"{"rule":[{"action":{"type":"Delete"},"condition":{"age":3,"matchesPrefix":["a/"],"isLive":false}}]}"#,
            r#"[1]"#,
        ] {
            assert!(Retention::parse(bad).is_err(), "{bad}");
        }
        let wrapped = r#"{"lifecycle":{"rule":[{"action":{"type":"Delete"},"condition":{"age":3,"matchesPrefix":["a/"]}}]}}"#;
        assert_eq!(
            Retention::parse(wrapped).expect("wrapped").rules[0].age_days,
            3
        );
    }
}
