//! Checking the activity log has not been edited behind the app's back, and anchoring it outside the
//! database. The hash chain shows a single entry edited, inserted or deleted; someone who can rewrite
//! the whole table can also rebuild a consistent chain, which only a copy of its head kept elsewhere
//! (an anchor: in the app log, the worker's output, the diagnostics bundle, IT's own file) shows.

use chrono::{DateTime, Utc};
use clinicpay_domain::Permission;
use clinicpay_store::activity::{self, ChainProblem, ChainReport};
use serde::Serialize;

use crate::{Actor, Result, ServiceError, Services};

/// The activity log's head at a moment: kept outside the database, it lets `audit verify --anchor`
/// show a log rewritten since.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ActivityAnchor {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub seq: i64,
    pub hash: String,
    pub at: DateTime<Utc>,
    /// The anchor as one line of text, as logs and anchor files hold it.
    pub line: String,
}

const ANCHOR_WORD: &str = "clinicpay-activity-anchor";

impl ActivityAnchor {
    fn new(seq: i64, hash: String, at: DateTime<Utc>) -> ActivityAnchor {
        let line = format!(
            "{ANCHOR_WORD} seq={seq} hash={hash} at={}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        ActivityAnchor {
            seq,
            hash,
            at,
            line,
        }
    }

    /// Every anchor in `text`, wherever it sits in a line (an app log's lines carry a time and level
    /// before it); other lines are skipped.
    pub fn find_all(text: &str) -> Vec<(i64, String, String)> {
        text.lines()
            .filter_map(|line| {
                let rest = &line[line.find(ANCHOR_WORD)? + ANCHOR_WORD.len()..];
                let field = |name: &str| {
                    rest.split_whitespace()
                        .find_map(|w| w.strip_prefix(name))
                        .map(str::to_owned)
                };
                Some((
                    field("seq=")?.parse().ok()?,
                    field("hash=")?,
                    field("at=").unwrap_or_default(),
                ))
            })
            .collect()
    }
}

impl Services {
    /// Walks the chain and reports what it found, intact or not.
    pub async fn verify_activity_log(&self, actor: &Actor) -> Result<ChainReport> {
        actor.require(Permission::VerifyAudit)?;
        let mut r = self.store().reader().await?;
        Ok(activity::verify(&mut r).await?)
    }

    /// Like [`Services::verify_activity_log`], but a broken chain is an error naming every break.
    pub async fn require_intact_activity_log(&self, actor: &Actor) -> Result<ChainReport> {
        self.require_intact(self.verify_activity_log(actor).await?)
    }

    /// The chain walked, and each anchor found in `anchors` (an anchor file, or an app log) checked
    /// against it: the entry it names must still be there with the same hash.
    pub async fn verify_activity_log_against(
        &self,
        actor: &Actor,
        anchors: &str,
    ) -> Result<ChainReport> {
        let found = ActivityAnchor::find_all(anchors);
        if found.is_empty() {
            return Err(ServiceError::Invalid(
                "No activity anchor was found in that file: give a file of lines from `clinicpay audit anchor`, or an app log.".into(),
            ));
        }
        let mut report = self.verify_activity_log(actor).await?;
        let mut r = self.store().reader().await?;
        for (seq, hash, at) in found {
            let when = if at.is_empty() {
                String::new()
            } else {
                format!(" of {at}")
            };
            match activity::hash_at(&mut r, seq).await? {
                Some(h) if h == hash => {}
                Some(_) => report.problems.push(ChainProblem {
                    seq,
                    problem: format!(
                        "is not the entry the anchor{when} recorded: the log was rewritten since"
                    ),
                }),
                None => report.problems.push(ChainProblem {
                    seq,
                    problem: format!(
                        "is gone, though the anchor{when} recorded it: the log was cut back or rewritten since"
                    ),
                }),
            }
            report.anchors_checked += 1;
        }
        drop(r);
        self.require_intact(report)
    }

    /// The activity log's head now. Not a secret (it is a hash of what the log holds), so the app log,
    /// the worker and the diagnostics bundle write it without a sign-in.
    pub async fn activity_anchor(&self) -> Result<ActivityAnchor> {
        let mut r = self.store().reader().await?;
        let (seq, hash) = activity::head(&mut r).await?;
        Ok(ActivityAnchor::new(seq, hash, self.now()))
    }

    fn require_intact(&self, report: ChainReport) -> Result<ChainReport> {
        if report.is_intact() {
            return Ok(report);
        }
        let breaks: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("entry {} {}", p.seq, p.problem))
            .collect();
        Err(ServiceError::ActivityLogTampered(breaks.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::ActivityAnchor;

    #[test]
    fn anchors_are_found_in_an_anchor_file_and_inside_app_log_lines() {
        let a = ActivityAnchor::new(7, "ab12".into(), chrono::DateTime::UNIX_EPOCH);
        let text = format!(
            "{}\n2026-11-30T10:00:00Z  INFO clinicpay: {}\nnoise clinicpay-activity-anchor seq=x\n",
            a.line,
            a.line.replace("seq=7", "seq=9")
        );
        let found = ActivityAnchor::find_all(&text);
        assert_eq!(
            found
                .iter()
                .map(|(s, h, _)| (*s, h.as_str()))
                .collect::<Vec<_>>(),
            vec![(7, "ab12"), (9, "ab12")]
        );
    }
}
