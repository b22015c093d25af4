//! The diagnostics bundle: one zip a desk sends to support, with what support asks for first (version,
//! settings, desks, recent app logs, how the gateway calls went) and nothing it must not see. Every file
//! is built from data that holds no secret and is then scrubbed once more on the way in: card numbers,
//! key-shaped strings, passwords in addresses and the secrets this process holds are removed.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::SettingKey;
use serde::Serialize;

use crate::desk_inventory::ThisDesk;
use crate::{Result, ServiceError, Services};

/// Where this desk's app logs are: `CLINICPAY_LOG_DIR`, else the app's local data folder.
pub fn log_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLINICPAY_LOG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    directories::ProjectDirs::from("com", "ClinicPay", "ClinicPay")
        .map(|d| d.data_local_dir().join("logs"))
        .unwrap_or_else(|| PathBuf::from("clinicpay-logs"))
}

/// The newest log files are copied, at most this much of the end of each.
const LOG_TAIL_BYTES: u64 = 256 * 1024;
const LOG_FILES: usize = 3;

/// What the caller knows that the services do not: the app's version and this desk.
pub struct DiagnosticsRequest<'a> {
    pub app_version: &'a str,
    pub desk: Option<&'a ThisDesk>,
    pub log_dir: PathBuf,
    /// Where the zip goes.
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DiagnosticsWritten {
    pub path: String,
    pub files: Vec<String>,
    #[cfg_attr(feature = "specta", specta(type = f64))]
    pub bytes: u64,
    pub message: String,
}

#[derive(Serialize)]
struct About<'a> {
    app_version: &'a str,
    generated_at: DateTime<Utc>,
    os: &'static str,
    arch: &'static str,
    database: String,
    database_kind: &'static str,
    desk_id: Option<&'a str>,
    desk_name: Option<&'a str>,
    managed_file: Option<String>,
    training_mode: bool,
    active_gateway: String,
    /// This computer's clock minus the database's, in milliseconds (None with a fixed clock).
    clock_skew_ms: Option<i64>,
    clock_warning: Option<String>,
    /// The activity log's head when the bundle was made: a copy outside the database.
    activity_anchor: Option<String>,
}

impl Services {
    /// Writes the diagnostics bundle to `req.out`, for IT (an IT person signs in at the desk that has
    /// trouble): it says how the clinic and the desk are set up, and holds no secret or patient detail.
    pub async fn write_diagnostics(
        &self,
        actor: &crate::Actor,
        req: DiagnosticsRequest<'_>,
        database_url: &str,
    ) -> Result<DiagnosticsWritten> {
        // It says how the clinic and this desk are set up: IT's to hand to support.
        actor.require(clinicpay_domain::Permission::WriteDiagnostics)?;
        // A database that cannot be reached is what some bundles are for: its clock is then unknown.
        let skew = self.sync_clock().await.ok().flatten();
        let now = self.now();
        let settings = self.load_settings().await?;
        let mut files: Vec<(String, String)> = Vec::new();

        let about = About {
            app_version: req.app_version,
            generated_at: now,
            os: std::env::consts::OS,
            arch: std::env::consts::ARCH,
            database: clinicpay_store::redact_url(database_url),
            database_kind: match self.store().dialect() {
                clinicpay_store::Dialect::Sqlite => "sqlite",
                clinicpay_store::Dialect::Postgres => "postgres",
            },
            desk_id: req.desk.map(|d| d.desk_id.as_str()),
            desk_name: req.desk.map(|d| d.name.as_str()),
            managed_file: self.managed().source_name(),
            training_mode: settings.training_mode,
            active_gateway: settings.active_gateway.as_str().into(),
            clock_skew_ms: skew.map(|s| s.num_milliseconds()),
            clock_warning: skew.and_then(crate::clock::clock_warning),
            activity_anchor: self.activity_anchor().await.ok().map(|a| a.line),
        };
        files.push(("about.json".into(), json(&about)));

        let values: Vec<_> = SettingKey::ALL
            .into_iter()
            .map(|k| {
                serde_json::json!({
                    "key": k.name(),
                    "value": k.value_of(&settings),
                    "managed": self.managed().config.manages(k),
                })
            })
            .collect();
        files.push(("settings.json".into(), json(&values)));
        files.push((
            "managed.json".into(),
            json(&self.managed().config.values(clinicpay_store::redact_url)),
        ));

        let mut r = self.store().reader().await?;
        let desks = clinicpay_store::desks::list(&mut r).await?;
        files.push(("desks.json".into(), json(&desks)));
        // Who runs the billing engine, its last pass and error (its log lines are in the app log).
        if let Ok(engine) = self.engine_status_unchecked().await {
            files.push(("billing-engine.json".into(), json(&engine)));
        }
        let calls =
            clinicpay_store::processor_log::counts_since(&mut r, now - Duration::days(7)).await?;
        drop(r);
        files.push(("processor-log-last-7-days.json".into(), json(&calls)));

        for (name, text) in recent_logs(&req.log_dir) {
            files.push((format!("logs/{name}"), text));
        }
        files.push(("README.txt".into(), readme(req.app_version, now)));

        // What this process read, and everything this computer's keychain holds for ClinicPay (a
        // log line may have met any of it, in this process or another).
        let mut known = self.known_secrets().await;
        known.extend(self.stored_secrets().await);
        let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        let bytes = write_zip(&req.out, files.into_iter().map(|(n, t)| (n, scrub(&t, &known))))
            .map_err(|e| {
                ServiceError::Invalid(format!(
                    "The diagnostics bundle could not be written to {} ({e}). Choose a folder you can write to.",
                    req.out.display()
                ))
            })?;
        Ok(DiagnosticsWritten {
            path: req.out.display().to_string(),
            files: names,
            bytes,
            message: format!(
                "Diagnostics saved to {}. Send this file to support: it holds no card numbers, secrets or patient details.",
                req.out.display()
            ),
        })
    }

    /// The secrets this process has read, so that they can be cut from anything it writes for others.
    async fn known_secrets(&self) -> Vec<String> {
        self.secrets
            .lock()
            .await
            .values()
            .flat_map(crate::credentials::secret_and_binding)
            .collect()
    }
}

fn json<T: Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("(not written: {e})"))
}

fn readme(version: &str, now: DateTime<Utc>) -> String {
    format!(
        "ClinicPay {version} diagnostics, made {now}.\n\n\
         about.json                      version, system, database (address without its password), desk\n\
         settings.json, managed.json     the clinic's settings and what IT pinned on this computer\n\
         desks.json                      every desk seen on this database\n\
         processor-log-last-7-days.json  gateway calls counted by operation and outcome (no bodies)\n\
         logs/                           the end of the newest app logs\n\n\
         Card numbers, security codes, API secrets, passwords and patient details are not included.\n"
    )
}

/// The end of the newest `clinicpay*` log files.
fn recent_logs(dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut logs: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("clinicpay"))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    logs.sort_by_key(|l| std::cmp::Reverse(l.0));
    logs.into_iter()
        .take(LOG_FILES)
        .filter_map(|(_, path)| {
            let text = tail(&path, LOG_TAIL_BYTES).ok()?;
            Some((path.file_name()?.to_string_lossy().into_owned(), text))
        })
        .collect()
}

fn tail(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Key-shaped words: Stripe secret and restricted keys, webhook secrets.
const SECRET_PREFIXES: &[&str] = &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"];

/// Removes what must never leave the desk, whatever file it is in.
pub fn scrub(text: &str, known_secrets: &[String]) -> String {
    let mut t = clinicpay_gateways::redact::text(text);
    for secret in known_secrets.iter().filter(|s| s.len() >= 8) {
        t = t.replace(secret.as_str(), "[secret removed]");
    }
    for prefix in SECRET_PREFIXES {
        while let Some(start) = t.find(prefix) {
            let end = t[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .map_or(t.len(), |e| start + e);
            t.replace_range(start..end, "[secret removed]");
        }
    }
    // Passwords in addresses: scheme://user:password@host.
    let mut out = String::with_capacity(t.len());
    for (i, part) in t.split("://").enumerate() {
        if i > 0 {
            out.push_str("://");
            let end = part
                .find(|c: char| c.is_whitespace() || c == '"' || c == '/')
                .unwrap_or(part.len());
            if let Some(at) = part[..end].rfind('@') {
                if let Some(colon) = part[..at].find(':') {
                    out.push_str(&part[..colon]);
                    out.push_str(":***");
                    out.push_str(&part[at..]);
                    continue;
                }
            }
        }
        out.push_str(part);
    }
    // Then email addresses (after the passwords, so `user:***@host` is not taken for one).
    without_emails(&out)
}

/// Email addresses (patients', mostly) replaced, wherever they appear.
fn without_emails(text: &str) -> String {
    let local = |c: char| c.is_ascii_alphanumeric() || "._%+-".contains(c);
    let domain = |c: char| c.is_ascii_alphanumeric() || ".-".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let start = rest[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| local(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest[at + 1..]
            .char_indices()
            .find(|(_, c)| !domain(*c))
            .map_or(rest.len(), |(i, _)| at + 1 + i);
        let host = rest[at + 1..end].trim_end_matches('.');
        if start < at && host.contains('.') && !host.starts_with('.') {
            out.push_str(&rest[..start]);
            out.push_str("[email removed]");
            rest = &rest[at + 1 + host.len()..];
        } else {
            out.push_str(&rest[..=at]);
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Writes the files into a zip next to `out` and moves it into place, so a half-written bundle never
/// looks finished. Answers the zip's size.
fn write_zip(
    out: &Path,
    files: impl Iterator<Item = (String, String)>,
) -> std::result::Result<u64, Box<dyn std::error::Error>> {
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let part = out.with_extension("zip.part");
    {
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&part)?);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, text) in files {
            zip.start_file(name, options)?;
            zip.write_all(text.as_bytes())?;
        }
        zip.finish()?.sync_all()?;
    }
    std::fs::rename(&part, out)?;
    Ok(std::fs::metadata(out)?.len())
}

#[cfg(test)]
mod tests {
    use super::scrub;

    #[test]
    fn scrubbing_removes_patients_emails_but_keeps_the_database_host() {
        let t = scrub(
            "sent to john.smith+card@example.com, ann@mail.example.org. db postgres://cp:pw@db.clinic.local/x; user@localhost",
            &[],
        );
        assert!(!t.contains("john.smith") && !t.contains("ann@"), "{t}");
        assert_eq!(t.matches("[email removed]").count(), 2, "{t}");
        assert!(t.contains("postgres://cp:***@db.clinic.local/x"), "{t}");
        assert!(
            t.contains("user@localhost"),
            "not an address with a domain: {t}"
        );
    }

    #[test]
    fn scrubbing_removes_card_numbers_keys_and_passwords_in_addresses() {
        let known = vec!["nmi-security-key-0123456789".to_owned()];
        let t = scrub(
            "card 4111 1111 1111 1111 key sk_test_51Habc123 rk_live_9 pw postgres://cp:hunter2@db/x \
             nmi-security-key-0123456789 order 12345",
            &known,
        );
        for gone in [
            "4111 1111",
            "sk_test_51Habc123",
            "rk_live_9",
            "hunter2",
            "nmi-security-key",
        ] {
            assert!(!t.contains(gone), "{gone} left in {t}");
        }
        assert!(t.contains("postgres://cp:***@db/x"), "{t}");
        assert!(t.contains("order 12345"), "{t}");
    }
}
