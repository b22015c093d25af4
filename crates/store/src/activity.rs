//! The activity log: who changed what, when, from what to what. Entries are appended in the same
//! transaction as the change, and each entry's SHA-256 covers the previous entry's hash, so editing or
//! deleting a row behind the app's back breaks the chain where `verify` finds it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What is being recorded.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub at: DateTime<Utc>,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    /// e.g. `card.added`, `card.default_changed`, `setting.changed`.
    pub action: String,
    /// e.g. `payment_method`, `patient`, `setting`.
    pub subject_type: String,
    pub subject_id: String,
    pub patient_id: Option<i64>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ActivityEntry {
    pub seq: i64,
    pub at: i64,
    pub actor_id: Option<i64>,
    pub actor_name: String,
    pub action: String,
    pub subject_type: String,
    pub subject_id: String,
    pub patient_id: Option<i64>,
    pub before_state: Option<String>,
    pub after_state: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

impl ActivityEntry {
    pub fn at_time(&self) -> DateTime<Utc> {
        from_millis(self.at)
    }

    /// The hash this entry must carry, computed from its fields and the previous hash.
    pub fn expected_hash(&self) -> String {
        entry_hash(
            self.seq,
            self.at,
            self.actor_id,
            &self.actor_name,
            &self.action,
            &self.subject_type,
            &self.subject_id,
            self.patient_id,
            self.before_state.as_deref(),
            self.after_state.as_deref(),
            &self.prev_hash,
        )
    }
}

#[allow(clippy::too_many_arguments)]
fn entry_hash(
    seq: i64,
    at: i64,
    actor_id: Option<i64>,
    actor_name: &str,
    action: &str,
    subject_type: &str,
    subject_id: &str,
    patient_id: Option<i64>,
    before: Option<&str>,
    after: Option<&str>,
    prev_hash: &str,
) -> String {
    let mut h = Sha256::new();
    // Fields are length-prefixed so no two different entries can hash the same text.
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(&seq.to_string());
    field(&at.to_string());
    field(&actor_id.map(|a| a.to_string()).unwrap_or_default());
    field(actor_name);
    field(action);
    field(subject_type);
    field(subject_id);
    field(&patient_id.map(|p| p.to_string()).unwrap_or_default());
    field(before.unwrap_or("\u{0}"));
    field(after.unwrap_or("\u{0}"));
    field(prev_hash);
    hex::encode(h.finalize())
}

/// Appends an entry inside `tx`. Taking the chain head with an UPDATE first serialises concurrent
/// writers on PostgreSQL (row lock) as SQLite's single writer already does.
pub async fn append(tx: &mut Tx, entry: NewActivity) -> Result<ActivityEntry> {
    let (seq, prev_hash): (i64, String) = sql_as!(
        tx,
        (i64, String),
        fetch_one,
        "UPDATE activity_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"
    )?;
    let mut e = ActivityEntry {
        seq,
        at: to_millis(entry.at),
        actor_id: entry.actor_id,
        actor_name: entry.actor_name,
        action: entry.action,
        subject_type: entry.subject_type,
        subject_id: entry.subject_id,
        patient_id: entry.patient_id,
        before_state: entry.before.map(|v| v.to_string()),
        after_state: entry.after.map(|v| v.to_string()),
        prev_hash,
        hash: String::new(),
    };
    e.hash = e.expected_hash();
    sql!(
        tx,
        execute,
        "INSERT INTO activity_log (seq, at, actor_id, actor_name, action, subject_type, subject_id,
             patient_id, before_state, after_state, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        e.seq,
        e.at,
        e.actor_id,
        &e.actor_name,
        &e.action,
        &e.subject_type,
        &e.subject_id,
        e.patient_id,
        e.before_state.as_deref(),
        e.after_state.as_deref(),
        &e.prev_hash,
        &e.hash
    )?;
    sql!(
        tx,
        execute,
        "UPDATE activity_head SET hash = $1 WHERE id = 1",
        &e.hash
    )?;
    // Other desks hear of it when (and only if) this transaction commits.
    if let Tx::Postgres(t) = tx {
        let notice = crate::changes::ChangeNotice {
            seq: e.seq,
            action: e.action.clone(),
            subject_type: e.subject_type.clone(),
            subject_id: e.subject_id.clone(),
            patient_id: e.patient_id,
            at: e.at,
        };
        sqlx::query(&format!(
            "SELECT pg_notify({}, $1)",
            crate::changes::CHANNEL_SQL
        ))
        .bind(serde_json::to_string(&notice).unwrap_or_default())
        .execute(&mut **t)
        .await?;
    }
    Ok(e)
}

const COLUMNS: &str = "seq, at, actor_id, actor_name, action, subject_type, subject_id, patient_id,
    before_state, after_state, prev_hash, hash";

/// The newest entries about one patient, newest first.
pub async fn for_patient(
    ex: &mut impl Executor,
    patient_id: i64,
    limit: i64,
) -> Result<Vec<ActivityEntry>> {
    let q = format!(
        "SELECT {COLUMNS} FROM activity_log WHERE patient_id = $1 ORDER BY seq DESC LIMIT $2"
    );
    Ok(sql_as!(
        ex,
        ActivityEntry,
        fetch_all,
        &q,
        patient_id,
        limit
    )?)
}

/// The newest entries of the whole clinic, newest first.
pub async fn recent(ex: &mut impl Executor, limit: i64) -> Result<Vec<ActivityEntry>> {
    let q = format!("SELECT {COLUMNS} FROM activity_log ORDER BY seq DESC LIMIT $1");
    Ok(sql_as!(ex, ActivityEntry, fetch_all, &q, limit)?)
}

/// One break in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    pub seq: i64,
    pub problem: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChainReport {
    pub entries: i64,
    pub problems: Vec<ChainProblem>,
    /// Anchors kept outside the database that were checked against the chain (`audit verify --anchor`).
    pub anchors_checked: i64,
}

impl ChainReport {
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walks the whole chain in pages and reports every entry that was edited, deleted or inserted.
pub async fn verify(ex: &mut impl Executor) -> Result<ChainReport> {
    const PAGE: i64 = 5_000;
    let q = format!("SELECT {COLUMNS} FROM activity_log WHERE seq > $1 ORDER BY seq LIMIT $2");
    let mut problems = Vec::new();
    let mut last_seq = 0i64;
    let mut last_hash = GENESIS_HASH.to_owned();
    let mut entries = 0i64;
    loop {
        let page: Vec<ActivityEntry> = sql_as!(ex, ActivityEntry, fetch_all, &q, last_seq, PAGE)?;
        if page.is_empty() {
            break;
        }
        for e in &page {
            entries += 1;
            if e.seq != last_seq + 1 {
                problems.push(ChainProblem {
                    seq: last_seq + 1,
                    problem: format!(
                        "entries {} to {} are missing (deleted)",
                        last_seq + 1,
                        e.seq - 1
                    ),
                });
            }
            if e.prev_hash != last_hash {
                problems.push(ChainProblem {
                    seq: e.seq,
                    problem: "does not follow the entry before it (an entry before it was changed, removed or inserted)".into(),
                });
            }
            if e.hash != e.expected_hash() {
                problems.push(ChainProblem {
                    seq: e.seq,
                    problem: "was changed after it was written".into(),
                });
            }
            last_seq = e.seq;
            last_hash = e.hash.clone();
        }
    }
    let (head_seq, head_hash): (i64, String) = sql_as!(
        ex,
        (i64, String),
        fetch_optional,
        "SELECT seq, hash FROM activity_head WHERE id = 1"
    )?
    .ok_or_else(|| StoreError::Corrupt("the activity log head is missing".into()))?;
    if head_seq != last_seq || head_hash != last_hash {
        problems.push(ChainProblem {
            seq: head_seq,
            problem: if head_seq > last_seq {
                format!(
                    "entries {} to {head_seq} are missing (deleted from the end)",
                    last_seq + 1
                )
            } else {
                "the newest entries do not match the recorded head of the log".into()
            },
        });
    }
    Ok(ChainReport {
        entries,
        problems,
        anchors_checked: 0,
    })
}

/// The newest entry's number and hash, as the head records them.
pub async fn head(ex: &mut impl Executor) -> Result<(i64, String)> {
    sql_as!(
        ex,
        (i64, String),
        fetch_optional,
        "SELECT seq, hash FROM activity_head WHERE id = 1"
    )?
    .ok_or_else(|| StoreError::Corrupt("the activity log head is missing".into()))
}

/// The hash of entry `seq`, if it exists.
pub async fn hash_at(ex: &mut impl Executor, seq: i64) -> Result<Option<String>> {
    Ok(sql_scalar!(
        ex,
        String,
        fetch_optional,
        "SELECT hash FROM activity_log WHERE seq = $1",
        seq
    )?)
}
