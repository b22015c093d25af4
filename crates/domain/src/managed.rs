//! The managed configuration: a file IT deploys in the OS-wide location of each desk. What it sets
//! wins over the clinic's settings and over anything a desk user can change, and the app says so.

use serde::Deserialize;

use crate::settings::{parse_update_endpoint, UpdateChannel};
use crate::{DomainError, OrganizationSettings, SettingKey};

/// What IT may pin on a desk. Every field is optional: what is left out stays the clinic's setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagedConfig {
    /// The database this desk opens (the clinic's PostgreSQL for several desks).
    pub database_url: Option<String>,
    /// True: `--db` and `CLINICPAY_DB` may still open another database (IT's own tools). By default a
    /// pinned database is the only one this computer's ClinicPay opens.
    pub allow_other_database: Option<bool>,
    /// The clinic's CA certificate (PEM, a full path) that signed its PostgreSQL server's certificate,
    /// when the OS does not already trust it.
    pub database_ca_file: Option<String>,
    /// How this desk is named in the desk inventory (default: the computer's name).
    pub desk_name: Option<String>,
    /// False: this desk never opens the demo clinic on the simulators.
    pub training_allowed: Option<bool>,
    /// Where the billing engine runs: any desk app (`desk`, the default) or only IT's dedicated
    /// `clinicpay worker` service (`service`: this desk never runs it).
    pub engine: Option<EngineHost>,
    #[serde(default)]
    pub updates: ManagedUpdates,
    #[serde(default)]
    pub desk: ManagedDesk,
}

/// Which kind of process runs the clinic's billing engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub enum EngineHost {
    /// The desk apps elect one of themselves.
    #[default]
    Desk,
    /// IT's `clinicpay worker` service, and no desk.
    Service,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagedUpdates {
    pub endpoint: Option<String>,
    pub channel: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManagedDesk {
    pub lock_after_minutes: Option<u32>,
    /// How a Stripe card is typed here: `auto` (Elements where the window is HTTPS, Stripe's own
    /// page elsewhere), `hosted` (always Stripe's page) or `elements` (Elements wherever Stripe.js
    /// takes them: off HTTPS only with a test key).
    pub stripe_card_entry: Option<crate::card_entry::StripeCardEntry>,
}

/// One line of "what IT set on this desk", for the settings screen and the diagnostics bundle.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ManagedValue {
    pub key: &'static str,
    pub value: String,
}

impl ManagedConfig {
    /// Reads the file's text; `source` names the file in every error so IT can find the line.
    pub fn parse(text: &str, source: &str) -> Result<ManagedConfig, DomainError> {
        let config: ManagedConfig = toml::from_str(text).map_err(|e| {
            DomainError::InvalidSetting(format!(
                "The managed configuration {source} cannot be read: {}. Fix the file (the keys are database-url, allow-other-database, database-ca-file, desk-name, training-allowed, engine, updates.endpoint, updates.channel, desk.lock-after-minutes, desk.stripe-card-entry) or ask IT.",
                e.message().trim_end_matches('.')
            ))
        })?;
        // Each managed value must be one the setting itself would take.
        config.apply(OrganizationSettings::default()).map_err(|e| {
            DomainError::InvalidSetting(format!("The managed configuration {source}: {e}"))
        })?;
        if let Some(url) = &config.database_url {
            if url.trim().is_empty() {
                return Err(DomainError::InvalidSetting(format!(
                    "The managed configuration {source}: database-url is empty; remove the line or give the clinic's database address."
                )));
            }
        }
        if let Some(ca) = &config.database_ca_file {
            if !std::path::Path::new(ca).is_absolute() {
                return Err(DomainError::InvalidSetting(format!(
                    "The managed configuration {source}: database-ca-file must be a full path (e.g. /etc/clinicpay/clinic-ca.pem), not {ca:?}."
                )));
            }
        }
        Ok(config)
    }

    /// The clinic's settings as this desk must use them.
    pub fn apply(&self, mut s: OrganizationSettings) -> Result<OrganizationSettings, DomainError> {
        if let Some(endpoint) = &self.updates.endpoint {
            s.updates.endpoint = parse_update_endpoint("updates.endpoint", endpoint)?;
        }
        if let Some(channel) = &self.updates.channel {
            s.updates.channel = channel.parse::<UpdateChannel>()?;
        }
        if let Some(minutes) = self.desk.lock_after_minutes {
            s = SettingKey::DeskLockMinutes.apply(&s, &minutes.to_string())?;
        }
        Ok(s)
    }

    /// Whether IT pinned this setting (then a desk cannot change it).
    pub fn manages(&self, key: SettingKey) -> bool {
        match key {
            SettingKey::UpdateEndpoint => self.updates.endpoint.is_some(),
            SettingKey::UpdateChannel => self.updates.channel.is_some(),
            SettingKey::DeskLockMinutes => self.desk.lock_after_minutes.is_some(),
            _ => false,
        }
    }

    /// Where the billing engine runs on this computer's say (`desk` unless IT said otherwise).
    pub fn engine_host(&self) -> EngineHost {
        self.engine.unwrap_or_default()
    }

    pub fn training_allowed(&self) -> bool {
        self.training_allowed.unwrap_or(true)
    }

    /// Everything IT set, with the database address's password hidden by `redact_url`.
    pub fn values(&self, redact_url: impl Fn(&str) -> String) -> Vec<ManagedValue> {
        let mut v = Vec::new();
        let mut push = |key, value: Option<String>| {
            if let Some(value) = value {
                v.push(ManagedValue { key, value });
            }
        };
        push("database-url", self.database_url.as_deref().map(redact_url));
        push(
            "allow-other-database",
            self.allow_other_database.map(|b| b.to_string()),
        );
        push("database-ca-file", self.database_ca_file.clone());
        push("desk-name", self.desk_name.clone());
        push(
            "training-allowed",
            self.training_allowed.map(|b| b.to_string()),
        );
        push(
            "engine",
            self.engine.map(|e| match e {
                EngineHost::Desk => "desk".to_owned(),
                EngineHost::Service => "service".to_owned(),
            }),
        );
        push("updates.endpoint", self.updates.endpoint.clone());
        push("updates.channel", self.updates.channel.clone());
        push(
            "desk.lock-after-minutes",
            self.desk.lock_after_minutes.map(|m| m.to_string()),
        );
        push(
            "desk.stripe-card-entry",
            self.desk.stripe_card_entry.map(|e| {
                match e {
                    crate::card_entry::StripeCardEntry::Auto => "auto",
                    crate::card_entry::StripeCardEntry::Hosted => "hosted",
                    crate::card_entry::StripeCardEntry::Elements => "elements",
                }
                .to_owned()
            }),
        );
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "/etc/clinicpay/managed.toml";

    #[test]
    fn a_managed_file_pins_the_desk_settings_it_names() {
        let c = ManagedConfig::parse(
            r#"
database-url = "postgres://clinicpay:s3cret@db.clinic.local/clinicpay"
database-ca-file = "/etc/clinicpay/clinic-ca.pem"
desk-name = "Front desk 2"
training-allowed = false
engine = "service"
[updates]
endpoint = "https://updates.clinic.example/clinicpay/"
channel = "pilot"
[desk]
lock-after-minutes = 3
stripe-card-entry = "hosted"
"#,
            FILE,
        )
        .unwrap();
        assert_eq!(
            c.desk.stripe_card_entry,
            Some(crate::card_entry::StripeCardEntry::Hosted)
        );
        let s = c.apply(OrganizationSettings::default()).unwrap();
        assert_eq!(
            s.updates.endpoint.as_deref(),
            Some("https://updates.clinic.example/clinicpay")
        );
        assert_eq!(s.updates.channel, UpdateChannel::Pilot);
        assert_eq!(s.desk_lock_minutes, 3);
        assert!(!c.training_allowed());
        assert!(c.manages(SettingKey::DeskLockMinutes));
        assert!(!c.manages(SettingKey::Gateway));
        let shown = c.values(|u| u.replace("s3cret", "***"));
        assert!(shown.iter().all(|v| !v.value.contains("s3cret")));
        assert_eq!(c.engine_host(), EngineHost::Service);
        assert_eq!(shown.len(), 9);
    }

    #[test]
    fn an_empty_file_manages_nothing() {
        let c = ManagedConfig::parse("", FILE).unwrap();
        assert_eq!(c, ManagedConfig::default());
        assert!(c.training_allowed());
        assert_eq!(c.engine_host(), EngineHost::Desk);
        assert!(SettingKey::ALL.iter().all(|k| !c.manages(*k)));
    }

    #[test]
    fn a_mistyped_key_names_the_file_and_the_keys_it_takes() {
        let e = ManagedConfig::parse("updates-channel = \"pilot\"\n", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains(FILE), "{e}");
        assert!(e.contains("updates-channel"), "{e}");
        assert!(e.contains("updates.channel"), "{e}");
    }

    #[test]
    fn a_managed_value_the_setting_would_refuse_is_refused() {
        let e = ManagedConfig::parse("[updates]\nchannel = \"beta\"\n", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("stable or pilot"), "{e}");
        let e = ManagedConfig::parse("[updates]\nendpoint = \"http://updates.example\"\n", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("https://"), "{e}");
        assert!(ManagedConfig::parse("[desk]\nlock-after-minutes = 999\n", FILE).is_err());
        let e = ManagedConfig::parse("database-ca-file = \"ca.pem\"\n", FILE)
            .unwrap_err()
            .to_string();
        assert!(e.contains("full path"), "{e}");
    }

    #[test]
    fn a_desk_reads_the_manifest_of_its_channel() {
        let c = ManagedConfig::parse(
            "[updates]\nendpoint = \"https://u.example/cp/\"\nchannel = \"pilot\"\n",
            FILE,
        )
        .unwrap();
        let s = c.apply(OrganizationSettings::default()).unwrap();
        assert_eq!(
            s.updates.manifest_url().as_deref(),
            Some("https://u.example/cp/pilot/latest.json")
        );
        assert_eq!(OrganizationSettings::default().updates.manifest_url(), None);
    }

    #[test]
    fn http_is_taken_only_for_an_update_server_on_this_computer() {
        assert!(parse_update_endpoint("u", "http://127.0.0.1:8080/x").is_ok());
        assert!(parse_update_endpoint("u", "http://localhost/x").is_ok());
        assert!(parse_update_endpoint("u", "http://localhost.evil.example/x").is_err());
        assert!(parse_update_endpoint("u", "http://127.0.0.1.evil.example/").is_err());
        assert!(parse_update_endpoint("u", "ftp://x").is_err());
    }
}
