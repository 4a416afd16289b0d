//! What was hotswapped into a stack since its last deploy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lambda::{Condition, Swap};
use crate::plan::S3Location;

/// The functions of one (nested) stack whose code was updated outside CloudFormation: until a
/// deploy puts CloudFormation back in line, the template names other code than they run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// By logical ID.
    pub functions: BTreeMap<String, Swapped>,
}

/// One hotswapped function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Swapped {
    /// Its physical name when it was swapped, for people reading the record: a restore finds
    /// the function in the stack by its logical ID (the record is only as trustworthy as the
    /// bucket it is kept in).
    pub function: String,
    pub bucket: String,
    pub key: String,
    /// Lambda's `CodeSha256` after the update.
    pub code_sha256: String,
}

impl Record {
    pub fn parse(bytes: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_json(&self) -> String {
        // A map of strings always serializes.
        serde_json::to_string_pretty(self).unwrap_or_default() + "\n"
    }

    /// The hotswap of a function whose code in the record is `key`: `Some(sha)` when the
    /// record knows the code it swapped in under that key.
    pub fn sha_of(&self, bucket: &str, key: &str) -> Option<&str> {
        self.functions
            .values()
            .find(|s| s.bucket == bucket && s.key == key)
            .map(|s| s.code_sha256.as_str())
    }

    /// What puts CloudFormation back in line once `deployed` (the code locations of the
    /// template now deployed, [`crate::code_locations`]) is what it believes: every recorded
    /// function whose template names other code than the record, updated to the template's
    /// code, but only while it still runs the hotswapped code (a deploy that changed the
    /// function's code has done it already).
    pub fn restore(&self, deployed: &BTreeMap<String, S3Location>) -> Vec<Swap> {
        self.functions
            .iter()
            .filter_map(|(id, swapped)| {
                let location = deployed.get(id)?;
                (location.bucket != swapped.bucket || location.key != swapped.key).then(|| Swap {
                    logical_id: id.clone(),
                    function: swapped.function.clone(),
                    location: location.clone(),
                    condition: Condition::OnlyIfCodeIs(swapped.code_sha256.clone()),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(key: &str) -> S3Location {
        S3Location {
            bucket: "b".into(),
            key: key.into(),
            version: None,
        }
    }

    fn record() -> Record {
        let mut r = Record::default();
        r.functions.insert(
            "Fn".into(),
            Swapped {
                function: "stack-Fn-123".into(),
                bucket: "b".into(),
                key: "new.zip".into(),
                code_sha256: "NEW=".into(),
            },
        );
        r
    }

    #[test]
    fn round_trips_as_json() {
        let r = record();
        assert_eq!(Record::parse(r.to_json().as_bytes()).unwrap(), r);
        assert!(Record::parse(b"not json").is_err());
        assert_eq!(r.sha_of("b", "new.zip"), Some("NEW="));
        assert_eq!(r.sha_of("b", "old.zip"), None);
    }

    #[test]
    fn restore_puts_back_the_template_code_where_it_differs() {
        let r = record();
        // The deployed template still names the old code (a reverted edit): restore it, but
        // only while the function runs the hotswapped code.
        let deployed = BTreeMap::from([("Fn".to_owned(), loc("old.zip"))]);
        let swaps = r.restore(&deployed);
        assert_eq!(swaps.len(), 1);
        assert_eq!(swaps[0].function, "stack-Fn-123");
        assert_eq!(swaps[0].location.key, "old.zip");
        assert_eq!(swaps[0].condition, Condition::OnlyIfCodeIs("NEW=".into()));
        // The template names the hotswapped code: nothing to do.
        let deployed = BTreeMap::from([("Fn".to_owned(), loc("new.zip"))]);
        assert!(r.restore(&deployed).is_empty());
        // A function gone from the template: nothing to do.
        assert!(r.restore(&BTreeMap::new()).is_empty());
    }
}
