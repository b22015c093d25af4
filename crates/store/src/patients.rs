//! Patients, and the prefix index behind the search box: one row per name word, the email and the
//! phone digits, compared byte-wise so the same range query serves both databases from a plain b-tree.

use chrono::{DateTime, Utc};
use clinicpay_domain::patient::phone_digits;
use clinicpay_domain::{Gateway, NewPatient, Patient, PatientId, PatientType};

use crate::{from_millis, to_millis, Executor, Result, StoreError, Tx};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    email: String,
    phone: Option<String>,
    patient_type: String,
    created_at: i64,
}

impl TryFrom<Row> for Patient {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Patient {
            id: PatientId(r.id),
            patient_type: r
                .patient_type
                .parse::<PatientType>()
                .map_err(|e| StoreError::Corrupt(format!("patient {}: {e}", r.id)))?,
            name: r.name,
            email: r.email,
            phone: r.phone,
            created_at: from_millis(r.created_at),
        })
    }
}

const COLUMNS: &str = "p.id, p.name, p.email, p.phone, p.patient_type, p.created_at";

/// The words a patient can be found by, name words first in the order written.
pub fn search_terms(name: &str, email: &str, phone: Option<&str>) -> Vec<String> {
    let mut terms: Vec<String> = name
        .split(|c: char| c.is_whitespace() || c == '-' || c == ',' || c == '.')
        .filter(|w| !w.is_empty())
        .map(|w| w.to_lowercase().replace('\'', ""))
        .filter(|w| !w.is_empty())
        .collect();
    terms.push(email.trim().to_lowercase());
    if let Some(p) = phone {
        let digits = phone_digits(p);
        // North American numbers are also found without their leading country code.
        if digits.len() == 11 && digits.starts_with('1') {
            terms.push(digits[1..].to_owned());
        }
        terms.push(digits);
    }
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(t.clone()));
    terms
}

/// The patient's words as one string with a space before each, so "some word starts with w" is
/// `LIKE '% w%'` on both databases.
fn search_text(name: &str, email: &str, phone: Option<&str>) -> String {
    let mut s = String::from(" ");
    for t in search_terms(name, email, phone) {
        s.push_str(&t);
        s.push(' ');
    }
    s
}

pub async fn insert(tx: &mut Tx, p: &NewPatient, at: DateTime<Utc>) -> Result<Patient> {
    let q = "INSERT INTO patients (name, email, phone, patient_type, search_text, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $6)
             RETURNING id, name, email, phone, patient_type, created_at";
    let row = sql_as!(
        tx,
        Row,
        fetch_one,
        q,
        &p.name,
        &p.email,
        p.phone.as_deref(),
        p.patient_type.as_str(),
        search_text(&p.name, &p.email, p.phone.as_deref()),
        to_millis(at)
    )?;
    let patient: Patient = row.try_into()?;
    write_terms(tx, patient.id, &p.name, &p.email, p.phone.as_deref()).await?;
    Ok(patient)
}

async fn write_terms(
    tx: &mut Tx,
    id: PatientId,
    name: &str,
    email: &str,
    phone: Option<&str>,
) -> Result<()> {
    let sort_key = name.to_lowercase();
    // The whole search text beside each term, for the other words of a search (migration 0012).
    let text = search_text(name, email, phone);
    for term in search_terms(name, email, phone) {
        sql!(
            tx,
            execute,
            "INSERT INTO patient_search_terms (term, sort_key, patient_id, search_text) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &term,
            &sort_key,
            id.0,
            &text
        )?;
    }
    Ok(())
}

pub async fn update(tx: &mut Tx, id: PatientId, p: &NewPatient, at: DateTime<Utc>) -> Result<()> {
    sql!(
        tx,
        execute,
        "UPDATE patients SET name = $1, email = $2, phone = $3, patient_type = $4, search_text = $5,
             updated_at = $6 WHERE id = $7",
        &p.name,
        &p.email,
        p.phone.as_deref(),
        p.patient_type.as_str(),
        search_text(&p.name, &p.email, p.phone.as_deref()),
        to_millis(at),
        id.0
    )?;
    sql!(
        tx,
        execute,
        "DELETE FROM patient_search_terms WHERE patient_id = $1",
        id.0
    )?;
    write_terms(tx, id, &p.name, &p.email, p.phone.as_deref()).await
}

pub async fn get(ex: &mut impl Executor, id: PatientId) -> Result<Option<Patient>> {
    let q = format!("SELECT {COLUMNS} FROM patients p WHERE p.id = $1");
    sql_as!(ex, Row, fetch_optional, &q, id.0)?
        .map(TryInto::try_into)
        .transpose()
}

pub async fn count(ex: &mut impl Executor) -> Result<i64> {
    Ok(sql_scalar!(
        ex,
        i64,
        fetch_one,
        "SELECT COUNT(*) FROM patients"
    )?)
}

/// Patients whose name words, email or phone start with what was typed. Every word of the query must
/// match (so "jo smi" finds John Smith). Results come in the order of the matched word, then name:
/// "smi" lists the Smiths by name, then the Smithers. An empty query lists patients by name.
///
/// The most selective word drives the query: its prefix range is read from the term index already in
/// (word, name) order, each patient reached is checked against the other words in its `search_text`,
/// and reading stops after one page. So a single letter at 200,000 patients costs about what a full
/// name does.
pub async fn search(ex: &mut impl Executor, query: &str, limit: i64) -> Result<Vec<Patient>> {
    search_with(ex, query, limit, &TermCounts::default()).await
}

/// How many search terms start with each word (see [`search_with`]), counted in full once and kept
/// for a while: statistics, as a query planner keeps them, that only choose which word to read from.
#[derive(Debug, Default)]
pub struct TermCounts {
    counted: std::sync::Mutex<std::collections::HashMap<String, (i64, std::time::Instant)>>,
}

impl TermCounts {
    /// Counts are a guide, not a figure anyone sees: an hour old is fresh enough.
    const KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(3_600);
    /// Each word typed is a key; a desk that searches all day keeps at most this many.
    const MOST: usize = 4_096;

    fn get(&self, word: &str) -> Option<i64> {
        let counted = self.counted.lock().ok()?;
        counted
            .get(word)
            .filter(|(_, at)| at.elapsed() < Self::KEPT_FOR)
            .map(|(n, _)| *n)
    }

    fn keep(&self, word: &str, n: i64) {
        if let Ok(mut counted) = self.counted.lock() {
            if counted.len() >= Self::MOST {
                counted.clear();
            }
            counted.insert(word.to_owned(), (n, std::time::Instant::now()));
        }
    }
}

/// [`search`], with the term counts this process keeps between searches.
pub async fn search_with(
    ex: &mut impl Executor,
    query: &str,
    limit: i64,
    counts: &TermCounts,
) -> Result<Vec<Patient>> {
    // Enough to tell a selective word from a common one; counting further costs more than it tells
    // (at a million patients "sm" has tens of thousands of terms).
    const CAP: i64 = 256;
    let words = query_words(query);
    if words.is_empty() {
        let q = format!("SELECT {COLUMNS} FROM patients p ORDER BY p.name, p.id LIMIT $1");
        return sql_as!(ex, Row, fetch_all, &q, limit)?
            .into_iter()
            .map(TryInto::try_into)
            .collect();
    }
    // How many terms each word matches (up to CAP), to pick the most selective one to drive; among
    // words that all reach the cap, the longest.
    let mut ranked: Vec<(i64, std::cmp::Reverse<usize>, i64, String)> =
        Vec::with_capacity(words.len());
    for w in words.iter() {
        let matches = if words.len() == 1 {
            0
        } else {
            sql_scalar!(
                ex,
                i64,
                fetch_one,
                "SELECT COUNT(*) FROM (SELECT 1 FROM patient_search_terms WHERE term >= $1 AND term < $2 LIMIT $3) AS t",
                w,
                format!("{w}\u{10FFFF}"),
                CAP
            )?
        };
        ranked.push((matches, std::cmp::Reverse(w.chars().count()), 0, w.clone()));
    }
    ranked.sort();
    // Words alike by both (past the cap, the same length: "jo sm") are told apart by their full counts,
    // kept between searches: at a million patients "jo" has 60,078 terms and "sm" 33,468, and reading
    // "sm" finds a page twice as fast. Counting each costs a few milliseconds, once an hour.
    let alike = ranked
        .iter()
        .take_while(|r| (r.0, r.1) == (ranked[0].0, ranked[0].1))
        .count();
    if ranked[0].0 >= CAP && alike > 1 {
        for r in ranked.iter_mut().take(alike) {
            r.2 = match counts.get(&r.3) {
                Some(n) => n,
                None => {
                    let n = sql_scalar!(
                        ex,
                        i64,
                        fetch_one,
                        "SELECT COUNT(*) FROM patient_search_terms WHERE term >= $1 AND term < $2",
                        &r.3,
                        format!("{}\u{10FFFF}", r.3)
                    )?;
                    counts.keep(&r.3, n);
                    n
                }
            };
        }
        ranked.sort();
    }
    let driver = &ranked[0].3;
    let others: Vec<String> = ranked[1..]
        .iter()
        .map(|(_, _, _, w)| format!("% {}%", crate::escape_like(w)))
        .collect();
    let mut q = format!(
        "SELECT {COLUMNS} FROM patient_search_terms t JOIN patients p ON p.id = t.patient_id
         WHERE t.term >= $1 AND t.term < $2"
    );
    for i in 0..others.len() {
        q.push_str(&format!(" AND t.search_text LIKE ${} ESCAPE '\\'", i + 3));
    }
    // A patient can match one word through several terms (name and email): a page is read with room
    // for a few, deduped, and read again longer only when too few patients were left and more exist.
    q.push_str(&format!(
        " ORDER BY t.term, t.sort_key, t.patient_id LIMIT ${}",
        others.len() + 3
    ));
    let upper = format!("{driver}\u{10FFFF}");
    let limit = limit.max(0);
    for read in [limit * 2, limit * 8] {
        let rows: Vec<Row> = match ex.conn() {
            crate::Conn::Sqlite(c) => {
                let mut query = sqlx::query_as::<_, Row>(&q).bind(driver).bind(&upper);
                for o in &others {
                    query = query.bind(o);
                }
                query.bind(read).fetch_all(c).await?
            }
            crate::Conn::Postgres(c) => {
                let mut query = sqlx::query_as::<_, Row>(&q).bind(driver).bind(&upper);
                for o in &others {
                    query = query.bind(o);
                }
                query.bind(read).fetch_all(c).await?
            }
        };
        let all_read = (rows.len() as i64) < read;
        let mut seen = std::collections::HashSet::new();
        let found: Vec<Row> = rows
            .into_iter()
            .filter(|r| seen.insert(r.id))
            .take(limit as usize)
            .collect();
        if found.len() as i64 == limit || all_read || read == limit * 8 {
            return found.into_iter().map(TryInto::try_into).collect();
        }
    }
    Ok(Vec::new())
}

/// The prefixes to look up: name words as typed (lowercase), or the digits of a phone number.
fn query_words(query: &str) -> Vec<String> {
    let q = query.trim().to_lowercase();
    let looks_like_phone = !q.is_empty()
        && q.chars().any(|c| c.is_ascii_digit())
        && q.chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if looks_like_phone {
        return vec![phone_digits(&q)];
    }
    let mut words: Vec<String> = q
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.contains('@') {
                w.to_owned()
            } else {
                w.trim_matches(|c| c == '-' || c == '.').replace('\'', "")
            }
        })
        .filter(|w| !w.is_empty())
        .collect();
    words.truncate(4);
    words
}

fn customer_column(gateway: Gateway) -> &'static str {
    match gateway {
        Gateway::Stripe => "stripe_customer_id",
        Gateway::Nmi => "nmi_customer_ref",
    }
}

/// The patient's customer record at a gateway (Stripe `cus_…`), if one was made.
pub async fn gateway_customer(
    ex: &mut impl Executor,
    id: PatientId,
    gateway: Gateway,
) -> Result<Option<String>> {
    let q = format!(
        "SELECT {} FROM patients WHERE id = $1",
        customer_column(gateway)
    );
    Ok(sql_scalar!(ex, Option<String>, fetch_optional, &q, id.0)?.flatten())
}

pub async fn set_gateway_customer(
    tx: &mut Tx,
    id: PatientId,
    gateway: Gateway,
    customer: &str,
) -> Result<()> {
    let q = format!(
        "UPDATE patients SET {} = $1 WHERE id = $2",
        customer_column(gateway)
    );
    sql!(tx, execute, &q, customer, id.0)?;
    Ok(())
}

/// Serialises changes to one patient's cards between desks (PostgreSQL row lock until `tx` ends;
/// SQLite has one writer at a time already).
pub async fn lock(tx: &mut Tx, id: PatientId) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        sqlx::query("SELECT id FROM patients WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patient_is_found_by_each_name_word_email_and_phone() {
        let t = search_terms(
            "Mary-Jane O'Neil",
            "MJ@Example.com",
            Some("+1 (555) 010-2030"),
        );
        for want in [
            "mary",
            "jane",
            "oneil",
            "mj@example.com",
            "15550102030",
            "5550102030",
        ] {
            assert!(t.contains(&want.to_owned()), "{want} not in {t:?}");
        }
    }

    #[test]
    fn a_typed_phone_number_is_searched_by_its_digits() {
        assert_eq!(query_words("(555) 010"), vec!["555010"]);
        assert_eq!(query_words("Jo Smi"), vec!["jo", "smi"]);
        assert_eq!(query_words("o'neil"), vec!["oneil"]);
        assert!(query_words("   ").is_empty());
    }
}
