//! The organization's payment settings, with the validation that keeps them coherent.
//! Long because every setting's key, default, validation and help sentence are kept in one table, and
//! its tests below (about 100 lines).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::address::WebAddress;
use crate::{Currency, DomainError, Gateway, Money, Permission};

/// How failed subscription and retry charges are recovered. The defaults follow document 000's
/// "What Happens When Cards Expire": a retry in days 1-3, another in days 4-7, suspension from day 8,
/// final notice and FAILED_FINAL from day 15.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySettings {
    /// Days after the first failure on which an automatic retry runs, ascending.
    pub retry_days: Vec<u32>,
    /// At most this many automatic retries (never more than there are retry days).
    pub max_attempts: u32,
    /// From this day the subscription is suspended.
    pub suspend_day: u32,
    /// From this day the final notice goes out and recovery ends as FAILED_FINAL.
    pub final_day: u32,
    /// Promote a compatible non-default card to default when it succeeds for subscription or retry billing.
    pub promote_successful_card: bool,
    /// Pause the subscription at its first failed charge. Off by default: document 000's grace period
    /// ("Day 1-3: service continues normally") holds, and suspension on `suspend_day` still comes.
    #[serde(default)]
    pub pause_on_first_failure: bool,
    /// Email the patient at each stage of recovery (document 000). Off until the clinic turns it on,
    /// like expiry reminders.
    #[serde(default)]
    pub emails: bool,
}

impl Default for RecoverySettings {
    fn default() -> Self {
        RecoverySettings {
            retry_days: vec![2, 5],
            max_attempts: 2,
            suspend_day: 8,
            final_day: 15,
            promote_successful_card: true,
            pause_on_first_failure: false,
            emails: false,
        }
    }
}

/// Card expiry reminders (document 000, "Expiry Notifications").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderSettings {
    pub enabled: bool,
    /// Days before expiry at which a reminder goes out; 0 means "at expiry".
    pub thresholds: Vec<u32>,
    /// Where the patient updates their card (the clinic's portal); `{patient}` becomes their number.
    #[serde(default)]
    pub update_link: Option<String>,
    /// `reminders.update-link secure-card-link`: each email to a patient carries a fresh secure card
    /// link instead (Stripe's page, for 24 hours; issue 22).
    #[serde(default)]
    pub secure_card_link: bool,
}

/// The value of `reminders.update-link` that puts a fresh secure card link in each email.
pub const SECURE_CARD_LINK: &str = "secure-card-link";

impl Default for ReminderSettings {
    fn default() -> Self {
        ReminderSettings {
            enabled: false,
            thresholds: vec![60, 30, 7, 0],
            update_link: None,
            secure_card_link: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationSettings {
    pub clinic_name: String,
    pub active_gateway: Gateway,
    pub fallback_gateway: Option<Gateway>,
    pub currency: Currency,
    /// Where the gateways' APIs are; None means the gateway's live address.
    pub stripe_api_base: Option<String>,
    pub nmi_api_base: Option<String>,
    /// Front desk may refund up to this many minor units; above it needs a billing manager.
    pub front_desk_refund_limit_minor: i64,
    pub recovery: RecoverySettings,
    pub reminders: ReminderSettings,
    /// The demo clinic: the app shows the training banner and talks to the built-in simulators.
    #[serde(default)]
    pub training_mode: bool,
    /// Stripe's publishable key (`pk_…`) for Stripe Elements: public by design, so it may live here.
    #[serde(default)]
    pub stripe_publishable_key: Option<String>,
    /// NMI's Collect.js tokenization key: public by design (it only makes single-use tokens).
    #[serde(default)]
    pub nmi_tokenization_key: Option<String>,
    /// A desk left alone this many minutes locks and asks for the password again (0: never).
    #[serde(default = "default_lock_minutes")]
    pub desk_lock_minutes: u32,
    #[serde(default)]
    pub smtp: SmtpSettings,
    #[serde(default)]
    pub updates: UpdateSettings,
    /// Where a patient's browser goes after saving a card through a secure card link (a page of the
    /// clinic's website). Stripe's page needs one; the training clinic uses the simulator's.
    #[serde(default)]
    pub card_link_return_url: Option<String>,
}

fn default_lock_minutes() -> u32 {
    5
}

impl Default for OrganizationSettings {
    fn default() -> Self {
        OrganizationSettings {
            clinic_name: "Clinic".into(),
            active_gateway: Gateway::Stripe,
            fallback_gateway: None,
            currency: Currency::USD,
            stripe_api_base: None,
            nmi_api_base: None,
            front_desk_refund_limit_minor: 10_000,
            recovery: RecoverySettings::default(),
            reminders: ReminderSettings::default(),
            training_mode: false,
            stripe_publishable_key: None,
            nmi_tokenization_key: None,
            desk_lock_minutes: default_lock_minutes(),
            smtp: SmtpSettings::default(),
            updates: UpdateSettings::default(),
            card_link_return_url: None,
        }
    }
}

/// Which releases a desk takes: most desks `stable`; a pilot desk or two get releases first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "lowercase")]
pub enum UpdateChannel {
    #[default]
    Stable,
    Pilot,
}

impl UpdateChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateChannel::Stable => "stable",
            UpdateChannel::Pilot => "pilot",
        }
    }
}

impl FromStr for UpdateChannel {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "stable" => Ok(UpdateChannel::Stable),
            "pilot" => Ok(UpdateChannel::Pilot),
            other => Err(invalid(format!(
                "updates.channel must be stable or pilot, not \"{other}\"."
            ))),
        }
    }
}

/// Where desks look for signed updates: the clinic's own server, which IT fills with
/// `clinicpay-release`. No endpoint: the desk never looks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UpdateSettings {
    pub endpoint: Option<String>,
    #[serde(default)]
    pub channel: UpdateChannel,
}

impl UpdateSettings {
    /// The signed manifest this desk reads: `ENDPOINT/CHANNEL/latest.json`, as `clinicpay-release`
    /// lays the folders out.
    pub fn manifest_url(&self) -> Option<String> {
        self.endpoint
            .as_ref()
            .map(|e| format!("{e}/{}/latest.json", self.channel.as_str()))
    }
}

/// An update endpoint: https, or http only on this computer (a local mirror, the tests), because an
/// update is software every desk will run (and is signed, so a mirror cannot change it).
pub fn parse_update_endpoint(name: &str, v: &str) -> Result<Option<String>, DomainError> {
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let a = WebAddress::parse(name, v)?;
    if !(a.is_https() || a.is_local_http()) {
        return Err(invalid(format!(
            "{name} must be the clinic's update server starting with https://, like https://updates.clinic.example/clinicpay, not \"{v}\"."
        )));
    }
    Ok(Some(a.as_stored()))
}

/// How reminder emails leave: the clinic's SMTP server or a relay such as Mailjet's. The password is
/// in the keychain, never here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    pub host: Option<String>,
    pub port: u16,
    /// starttls, tls or none (none only for a server on this computer or the clinic's own network).
    pub security: String,
    pub username: Option<String>,
    /// "Riverside Clinic <billing@riverside.example>".
    pub from: Option<String>,
}

impl Default for SmtpSettings {
    fn default() -> Self {
        SmtpSettings {
            host: None,
            port: 587,
            security: "starttls".into(),
            username: None,
            from: None,
        }
    }
}

/// The settings staff can change, by the names `clinicpay settings set` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingKey {
    ClinicName,
    Gateway,
    FallbackGateway,
    Currency,
    StripeApiBase,
    NmiApiBase,
    FrontDeskRefundLimit,
    RecoveryRetryDays,
    RecoveryMaxAttempts,
    RecoverySuspendDay,
    RecoveryFinalDay,
    RecoveryPromoteCard,
    RecoveryPauseOnFirstFailure,
    RecoveryEmails,
    RemindersEnabled,
    ReminderThresholds,
    StripePublishableKey,
    NmiTokenizationKey,
    DeskLockMinutes,
    ReminderUpdateLink,
    SmtpHost,
    SmtpPort,
    SmtpSecurity,
    SmtpUsername,
    SmtpFrom,
    UpdateEndpoint,
    UpdateChannel,
    CardLinkReturnUrl,
}

impl SettingKey {
    pub const ALL: [SettingKey; 28] = [
        SettingKey::ClinicName,
        SettingKey::Gateway,
        SettingKey::FallbackGateway,
        SettingKey::Currency,
        SettingKey::StripeApiBase,
        SettingKey::NmiApiBase,
        SettingKey::FrontDeskRefundLimit,
        SettingKey::RecoveryRetryDays,
        SettingKey::RecoveryMaxAttempts,
        SettingKey::RecoverySuspendDay,
        SettingKey::RecoveryFinalDay,
        SettingKey::RecoveryPromoteCard,
        SettingKey::RecoveryPauseOnFirstFailure,
        SettingKey::RecoveryEmails,
        SettingKey::RemindersEnabled,
        SettingKey::ReminderThresholds,
        SettingKey::StripePublishableKey,
        SettingKey::NmiTokenizationKey,
        SettingKey::DeskLockMinutes,
        SettingKey::ReminderUpdateLink,
        SettingKey::SmtpHost,
        SettingKey::SmtpPort,
        SettingKey::SmtpSecurity,
        SettingKey::SmtpUsername,
        SettingKey::SmtpFrom,
        SettingKey::UpdateEndpoint,
        SettingKey::UpdateChannel,
        SettingKey::CardLinkReturnUrl,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SettingKey::ClinicName => "clinic-name",
            SettingKey::Gateway => "gateway",
            SettingKey::FallbackGateway => "fallback-gateway",
            SettingKey::Currency => "currency",
            SettingKey::StripeApiBase => "stripe.api-base",
            SettingKey::NmiApiBase => "nmi.api-base",
            SettingKey::FrontDeskRefundLimit => "refunds.front-desk-limit",
            SettingKey::RecoveryRetryDays => "recovery.retry-days",
            SettingKey::RecoveryMaxAttempts => "recovery.max-attempts",
            SettingKey::RecoverySuspendDay => "recovery.suspend-day",
            SettingKey::RecoveryFinalDay => "recovery.final-day",
            SettingKey::RecoveryPromoteCard => "recovery.promote-successful-card",
            SettingKey::RecoveryPauseOnFirstFailure => "recovery.pause-on-first-failure",
            SettingKey::RecoveryEmails => "recovery.emails",
            SettingKey::RemindersEnabled => "reminders.enabled",
            SettingKey::ReminderThresholds => "reminders.thresholds",
            SettingKey::StripePublishableKey => "stripe.publishable-key",
            SettingKey::NmiTokenizationKey => "nmi.tokenization-key",
            SettingKey::DeskLockMinutes => "desk.lock-after-minutes",
            SettingKey::ReminderUpdateLink => "reminders.update-link",
            SettingKey::SmtpHost => "smtp.host",
            SettingKey::SmtpPort => "smtp.port",
            SettingKey::SmtpSecurity => "smtp.security",
            SettingKey::SmtpUsername => "smtp.username",
            SettingKey::SmtpFrom => "smtp.from",
            SettingKey::UpdateEndpoint => "updates.endpoint",
            SettingKey::UpdateChannel => "updates.channel",
            SettingKey::CardLinkReturnUrl => "card-link.return-url",
        }
    }

    /// Who may change it: where secrets, cards, patients and software travel is IT's to decide
    /// (issue 19); the rest is the billing manager's too. Turning the desk lock off is IT's as well,
    /// which `Services::set_setting` checks against the value.
    pub fn permission(self) -> Permission {
        match self {
            SettingKey::StripeApiBase
            | SettingKey::NmiApiBase
            | SettingKey::SmtpHost
            | SettingKey::SmtpPort
            | SettingKey::SmtpSecurity
            | SettingKey::SmtpUsername
            | SettingKey::SmtpFrom
            | SettingKey::UpdateEndpoint
            | SettingKey::UpdateChannel
            // The card form's keys name the account a typed card is tokenized into, and the update
            // link is where the clinic's own emails send patients to "update your card".
            | SettingKey::StripePublishableKey
            | SettingKey::NmiTokenizationKey
            | SettingKey::ReminderUpdateLink
            | SettingKey::CardLinkReturnUrl => Permission::ChangeSecuritySettings,
            _ => Permission::ChangeSettings,
        }
    }

    /// The current value, as `settings show` prints it and `settings set` reads it back.
    pub fn value_of(self, s: &OrganizationSettings) -> String {
        let days = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        match self {
            SettingKey::ClinicName => s.clinic_name.clone(),
            SettingKey::Gateway => s.active_gateway.as_str().into(),
            SettingKey::FallbackGateway => s
                .fallback_gateway
                .map_or("none".into(), |g| g.as_str().into()),
            SettingKey::Currency => s.currency.code().into(),
            SettingKey::StripeApiBase => s.stripe_api_base.clone().unwrap_or_default(),
            SettingKey::NmiApiBase => s.nmi_api_base.clone().unwrap_or_default(),
            SettingKey::FrontDeskRefundLimit => {
                Money::from_minor(s.front_desk_refund_limit_minor, s.currency).plain()
            }
            SettingKey::RecoveryRetryDays => days(&s.recovery.retry_days),
            SettingKey::RecoveryMaxAttempts => s.recovery.max_attempts.to_string(),
            SettingKey::RecoverySuspendDay => s.recovery.suspend_day.to_string(),
            SettingKey::RecoveryFinalDay => s.recovery.final_day.to_string(),
            SettingKey::RecoveryPromoteCard => s.recovery.promote_successful_card.to_string(),
            SettingKey::RecoveryPauseOnFirstFailure => {
                s.recovery.pause_on_first_failure.to_string()
            }
            SettingKey::RecoveryEmails => s.recovery.emails.to_string(),
            SettingKey::RemindersEnabled => s.reminders.enabled.to_string(),
            SettingKey::ReminderThresholds => days(&s.reminders.thresholds),
            SettingKey::StripePublishableKey => {
                s.stripe_publishable_key.clone().unwrap_or_default()
            }
            SettingKey::NmiTokenizationKey => s.nmi_tokenization_key.clone().unwrap_or_default(),
            SettingKey::DeskLockMinutes => s.desk_lock_minutes.to_string(),
            SettingKey::ReminderUpdateLink if s.reminders.secure_card_link => {
                SECURE_CARD_LINK.into()
            }
            SettingKey::ReminderUpdateLink => s.reminders.update_link.clone().unwrap_or_default(),
            SettingKey::SmtpHost => s.smtp.host.clone().unwrap_or_default(),
            SettingKey::SmtpPort => s.smtp.port.to_string(),
            SettingKey::SmtpSecurity => s.smtp.security.clone(),
            SettingKey::SmtpUsername => s.smtp.username.clone().unwrap_or_default(),
            SettingKey::SmtpFrom => s.smtp.from.clone().unwrap_or_default(),
            SettingKey::UpdateEndpoint => s.updates.endpoint.clone().unwrap_or_default(),
            SettingKey::UpdateChannel => s.updates.channel.as_str().into(),
            SettingKey::CardLinkReturnUrl => s.card_link_return_url.clone().unwrap_or_default(),
        }
    }

    /// The settings with this key set to `value`, validated as a whole. `self` is unchanged on error.
    pub fn apply(
        self,
        current: &OrganizationSettings,
        value: &str,
    ) -> Result<OrganizationSettings, DomainError> {
        let mut s = current.clone();
        let v = value.trim();
        let name = self.name();
        match self {
            SettingKey::ClinicName => {
                if v.is_empty() || v.chars().count() > 120 {
                    return Err(invalid(format!(
                        "the clinic name must be 1 to 120 characters, not \"{v}\"."
                    )));
                }
                s.clinic_name = v.into();
            }
            SettingKey::Gateway => s.active_gateway = v.parse()?,
            SettingKey::FallbackGateway => {
                s.fallback_gateway = match v.to_ascii_lowercase().as_str() {
                    "" | "none" | "off" => None,
                    _ => Some(v.parse()?),
                }
            }
            SettingKey::Currency => s.currency = v.parse()?,
            SettingKey::StripeApiBase => s.stripe_api_base = parse_url(name, v)?,
            SettingKey::NmiApiBase => s.nmi_api_base = parse_url(name, v)?,
            SettingKey::FrontDeskRefundLimit => {
                let m = Money::parse(v, s.currency)?;
                if m.minor < 0 {
                    return Err(invalid(format!("{name} cannot be negative.")));
                }
                s.front_desk_refund_limit_minor = m.minor;
            }
            SettingKey::RecoveryRetryDays => s.recovery.retry_days = parse_days(name, v)?,
            SettingKey::RecoveryMaxAttempts => s.recovery.max_attempts = parse_number(name, v)?,
            SettingKey::RecoverySuspendDay => s.recovery.suspend_day = parse_number(name, v)?,
            SettingKey::RecoveryFinalDay => s.recovery.final_day = parse_number(name, v)?,
            SettingKey::RecoveryPromoteCard => {
                s.recovery.promote_successful_card = parse_bool(name, v)?
            }
            SettingKey::RecoveryPauseOnFirstFailure => {
                s.recovery.pause_on_first_failure = parse_bool(name, v)?
            }
            SettingKey::RecoveryEmails => s.recovery.emails = parse_bool(name, v)?,
            SettingKey::RemindersEnabled => s.reminders.enabled = parse_bool(name, v)?,
            SettingKey::ReminderThresholds => {
                let mut t = parse_days(name, v)?;
                t.sort_unstable_by(|a, b| b.cmp(a));
                t.dedup();
                s.reminders.thresholds = t;
            }
            SettingKey::StripePublishableKey => {
                s.stripe_publishable_key = parse_public_key(name, v, Gateway::Stripe)?
            }
            SettingKey::NmiTokenizationKey => {
                s.nmi_tokenization_key = parse_public_key(name, v, Gateway::Nmi)?
            }
            SettingKey::DeskLockMinutes => {
                let m = v.parse::<u32>().ok().filter(|m| *m <= 240).ok_or_else(|| {
                    invalid(format!(
                        "{name} must be a whole number of minutes from 0 (never lock) to 240, not \"{v}\"."
                    ))
                })?;
                s.desk_lock_minutes = m;
            }
            SettingKey::ReminderUpdateLink => {
                s.reminders.secure_card_link = v == SECURE_CARD_LINK;
                s.reminders.update_link = match v {
                    "" | "none" | "default" | SECURE_CARD_LINK => None,
                    link if WebAddress::parse_link(name, link)?.is_https() => Some(link.to_owned()),
                    _ => {
                        return Err(invalid(format!(
                            "{name} is a link patients open from an email: it must start with https://, or be secure-card-link for a fresh secure card link in each email (Stripe)."
                        )))
                    }
                }
            }
            SettingKey::SmtpHost => {
                s.smtp.host = match v {
                    "" | "none" => None,
                    h if h.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') => {
                        Some(h.to_ascii_lowercase())
                    }
                    _ => {
                        return Err(invalid(format!(
                            "{name} is the mail server's name, like in-v3.mailjet.com or mail.clinic.example, without https:// or a port."
                        )))
                    }
                }
            }
            SettingKey::SmtpPort => {
                s.smtp.port = v.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                    invalid(format!(
                        "{name} must be a port number such as 587 (STARTTLS) or 465 (TLS), not \"{v}\"."
                    ))
                })?
            }
            SettingKey::SmtpSecurity => {
                let v = v.to_ascii_lowercase();
                if !["starttls", "tls", "none"].contains(&v.as_str()) {
                    return Err(invalid(format!(
                        "{name} must be starttls, tls or none, not \"{v}\"."
                    )));
                }
                s.smtp.security = v;
            }
            SettingKey::SmtpUsername => {
                s.smtp.username = (!v.is_empty()).then(|| v.to_owned())
            }
            SettingKey::SmtpFrom => {
                let ok = v.is_empty()
                    || (v.contains('@') && !v.contains(char::is_control) && v.len() <= 200);
                if !ok {
                    return Err(invalid(format!(
                        "{name} is who reminders come from, like Riverside Clinic <billing@riverside.example>."
                    )));
                }
                s.smtp.from = (!v.is_empty()).then(|| v.to_owned());
            }
            SettingKey::UpdateEndpoint => s.updates.endpoint = parse_update_endpoint(name, v)?,
            SettingKey::UpdateChannel => s.updates.channel = v.parse()?,
            SettingKey::CardLinkReturnUrl => {
                s.card_link_return_url = match v {
                    "" | "none" | "default" => None,
                    link if WebAddress::parse_link(name, link)?.is_https() => Some(link.to_owned()),
                    _ => {
                        return Err(invalid(format!(
                            "{name} is the page patients land on after saving a card: it must start with https://."
                        )))
                    }
                }
            }
        }
        s.validate()?;
        Ok(s)
    }
}

impl fmt::Display for SettingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SettingKey {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        SettingKey::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                invalid(format!(
                    "\"{}\" is not a setting: use one of {}.",
                    s.trim(),
                    SettingKey::ALL.map(|k| k.name()).join(", ")
                ))
            })
    }
}

impl OrganizationSettings {
    pub fn validate(&self) -> Result<(), DomainError> {
        if self.fallback_gateway == Some(self.active_gateway) {
            return Err(invalid(format!(
                "{} cannot be both the active and the fallback gateway: set fallback-gateway to the other gateway or to none.",
                self.active_gateway
            )));
        }
        let r = &self.recovery;
        if r.retry_days.windows(2).any(|w| w[0] >= w[1]) || r.retry_days.contains(&0) {
            return Err(invalid(
                "recovery.retry-days must be days after the failure in ascending order, like 2,5."
                    .into(),
            ));
        }
        if r.max_attempts as usize > r.retry_days.len() {
            return Err(invalid(format!(
                "recovery.max-attempts is {} but only {} retry days are set: add retry days or lower the attempts.",
                r.max_attempts,
                r.retry_days.len()
            )));
        }
        if r.suspend_day == 0 || r.suspend_day >= r.final_day {
            return Err(invalid(format!(
                "recovery.suspend-day ({}) must come before recovery.final-day ({}).",
                r.suspend_day, r.final_day
            )));
        }
        if r.retry_days.iter().any(|d| *d >= r.final_day) {
            return Err(invalid(format!(
                "every retry day must come before recovery.final-day ({}).",
                r.final_day
            )));
        }
        if self.reminders.thresholds.is_empty() {
            return Err(invalid(
                "reminders.thresholds needs at least one day, like 60,30,7,0.".into(),
            ));
        }
        if self.reminders.thresholds.iter().any(|d| *d > 365) {
            return Err(invalid(
                "reminders.thresholds are days before expiry, at most 365.".into(),
            ));
        }
        Ok(())
    }
}

fn invalid(msg: String) -> DomainError {
    DomainError::InvalidSetting(msg)
}

fn parse_number(name: &str, v: &str) -> Result<u32, DomainError> {
    v.parse::<u32>().ok().filter(|n| *n <= 365).ok_or_else(|| {
        invalid(format!(
            "{name} must be a whole number of days up to 365, not \"{v}\"."
        ))
    })
}

fn parse_days(name: &str, v: &str) -> Result<Vec<u32>, DomainError> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(',').map(|d| parse_number(name, d.trim())).collect()
}

fn parse_bool(name: &str, v: &str) -> Result<bool, DomainError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(invalid(format!(
            "{name} must be true or false, not \"{v}\"."
        ))),
    }
}

/// A gateway's public browser key. Secret keys are refused: they belong in the keychain, and this
/// setting is stored in the database where every desk can read it.
fn parse_public_key(name: &str, v: &str, gateway: Gateway) -> Result<Option<String>, DomainError> {
    if v.is_empty() || v.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let shaped = v.len() <= 200
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match gateway {
        Gateway::Stripe if v.starts_with("sk_") || v.starts_with("rk_") => Err(invalid(format!(
            "{name} takes the publishable key (pk_…), and this is a secret key: do not store it here. Put secret keys in this computer's keychain with `clinicpay gateway credentials set stripe`."
        ))),
        Gateway::Stripe if !(v.starts_with("pk_") && shaped) => Err(invalid(format!(
            "{name} must be Stripe's publishable key, which starts with pk_live_ or pk_test_."
        ))),
        Gateway::Nmi if !(shaped && v.len() >= 16 && v.contains('-')) => Err(invalid(format!(
            "{name} must be the Collect.js tokenization key from NMI's merchant portal (Settings → Security Keys, \"Tokenization\"), like 5mN8N7-jhr55W-N22pxX-uAW2s9."
        ))),
        _ => Ok(Some(v.to_owned())),
    }
}

/// A gateway address: parsed, http or https. Whether this clinic may use it (https only when live) is
/// `address::check_gateway_address`, which needs to know the clinic and the build.
fn parse_url(name: &str, v: &str) -> Result<Option<String>, DomainError> {
    if v.is_empty() || v.eq_ignore_ascii_case("default") {
        return Ok(None);
    }
    Ok(Some(WebAddress::parse(name, v)?.as_stored()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_recovery_follows_the_dunning_timeline_of_document_000() {
        let s = OrganizationSettings::default();
        assert!(s.validate().is_ok());
        let r = &s.recovery;
        assert!((1..=3).contains(&r.retry_days[0]));
        assert!((4..=7).contains(&r.retry_days[1]));
        assert_eq!((r.suspend_day, r.final_day), (8, 15));
        assert_eq!(s.reminders.thresholds, vec![60, 30, 7, 0]);
    }

    #[test]
    fn every_setting_reads_back_what_was_set() {
        let s = OrganizationSettings::default();
        for (key, value) in [
            ("gateway", "nmi"),
            ("fallback-gateway", "nmi"),
            ("currency", "CAD"),
            ("nmi.api-base", "http://127.0.0.1:9000"),
            ("refunds.front-desk-limit", "250.00"),
            ("recovery.retry-days", "1,4,6"),
            ("reminders.thresholds", "30,7"),
            ("reminders.enabled", "true"),
            ("clinic-name", "Riverside Family Clinic"),
            ("stripe.publishable-key", "pk_test_51Hclinic"),
            ("nmi.tokenization-key", "5mN8N7-jhr55W-N22pxX-uAW2s9"),
            ("desk.lock-after-minutes", "15"),
            (
                "reminders.update-link",
                "https://portal.clinic.example/cards?patient={patient}",
            ),
            ("reminders.update-link", "secure-card-link"),
            (
                "card-link.return-url",
                "https://riverside.example/card-saved",
            ),
            ("smtp.host", "in-v3.mailjet.com"),
            ("smtp.port", "465"),
            ("smtp.security", "tls"),
            ("smtp.username", "api-key-user"),
            ("smtp.from", "Riverside Clinic <billing@riverside.example>"),
        ] {
            let k: SettingKey = key.parse().unwrap();
            let changed = k
                .apply(&s, value)
                .unwrap_or_else(|e| panic!("{key}={value}: {e}"));
            assert_eq!(k.value_of(&changed), value);
        }
    }

    #[test]
    fn incoherent_settings_are_refused_with_what_to_do() {
        let s = OrganizationSettings::default();
        let set = |k: &str, v: &str| k.parse::<SettingKey>().unwrap().apply(&s, v);
        assert!(set("fallback-gateway", "stripe")
            .unwrap_err()
            .to_string()
            .contains("both the active and the fallback"));
        assert!(set("gateway", "paypal")
            .unwrap_err()
            .to_string()
            .contains("use stripe or nmi"));
        assert!(set("recovery.suspend-day", "20").is_err());
        assert!(set("recovery.retry-days", "5,2").is_err());
        assert!(set("recovery.max-attempts", "3")
            .unwrap_err()
            .to_string()
            .contains("only 2 retry days"));
        assert!(set("reminders.enabled", "maybe").is_err());
        assert!(set("refunds.front-desk-limit", "-5").is_err());
        assert!(set("stripe.api-base", "ftp://x").is_err());
        assert!("colour".parse::<SettingKey>().is_err());
        assert!(set("desk.lock-after-minutes", "600").is_err());
    }

    #[test]
    fn a_secret_key_pasted_as_the_publishable_key_is_refused_and_not_stored() {
        let s = OrganizationSettings::default();
        let k: SettingKey = "stripe.publishable-key".parse().unwrap();
        let e = k.apply(&s, "sk_live_abcdef123456").unwrap_err().to_string();
        assert!(e.contains("secret key") && e.contains("keychain"), "{e}");
        assert!(
            !e.contains("sk_live_abcdef123456"),
            "the refusal does not repeat the secret"
        );
        let nmi: SettingKey = "nmi.tokenization-key".parse().unwrap();
        assert!(nmi.apply(&s, "short").is_err());
        assert_eq!(k.apply(&s, "none").unwrap().stripe_publishable_key, None);
    }

    #[test]
    fn settings_saved_before_the_desk_keys_existed_still_load() {
        let mut old = serde_json::to_value(OrganizationSettings::default()).unwrap();
        let map = old.as_object_mut().unwrap();
        map.remove("stripe_publishable_key");
        map.remove("nmi_tokenization_key");
        map.remove("desk_lock_minutes");
        let loaded: OrganizationSettings = serde_json::from_value(old).unwrap();
        assert_eq!(loaded.desk_lock_minutes, 5);
        assert_eq!(loaded.stripe_publishable_key, None);
    }
}
