//! Gateway credentials: the Stripe secret key and the NMI security key live in this computer's OS
//! keychain (Secret Service, macOS Keychain, Windows Credential Manager), never in files, the database or
//! logs. Training mode never reads them: it talks to the built-in simulator with its own keys.

use std::time::Duration;

use clinicpay_domain::{Gateway, Permission};
use clinicpay_gateways::Secret;
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

/// The keychain "service" ClinicPay's entries are filed under. Tests use their own name.
pub const KEYCHAIN_SERVICE: &str = "ClinicPay";
/// A keychain that waits for an unlock prompt nobody answers must not freeze the desk.
const KEYCHAIN_TIMEOUT: Duration = Duration::from_secs(15);

/// Which secret: a gateway's API secret or the reminder mail server's password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    Gateway(Gateway),
    SmtpPassword,
}

impl From<Gateway> for SecretKind {
    fn from(g: Gateway) -> SecretKind {
        SecretKind::Gateway(g)
    }
}

/// Where the secrets are kept.
pub trait CredentialStore: Send + Sync {
    fn get(&self, which: SecretKind) -> Result<Option<Secret>>;
    fn set(&self, which: SecretKind, secret: &Secret) -> Result<()>;
    fn delete(&self, which: SecretKind) -> Result<()>;
}

/// The OS keychain through `keyring`.
pub struct Keychain {
    service: String,
}

impl Keychain {
    /// ClinicPay's entries, or those under `CLINICPAY_KEYCHAIN_SERVICE` when set (tests, a second
    /// clinic on one computer).
    pub fn from_env() -> Keychain {
        Keychain {
            service: std::env::var("CLINICPAY_KEYCHAIN_SERVICE")
                .unwrap_or_else(|_| KEYCHAIN_SERVICE.into()),
        }
    }

    pub fn named(service: impl Into<String>) -> Keychain {
        Keychain {
            service: service.into(),
        }
    }

    fn entry(&self, which: SecretKind) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, account(which)).map_err(unavailable)
    }
}

fn account(which: SecretKind) -> &'static str {
    match which {
        SecretKind::Gateway(Gateway::Stripe) => "stripe.secret-key",
        SecretKind::Gateway(Gateway::Nmi) => "nmi.security-key",
        SecretKind::SmtpPassword => "smtp.password",
    }
}

fn unavailable(e: keyring::Error) -> ServiceError {
    ServiceError::KeychainUnavailable(format!(
        "The system keychain is not available ({e}). On Linux the desk needs a running, unlocked Secret Service (GNOME Keyring or KWallet); ask IT."
    ))
}

impl CredentialStore for Keychain {
    fn get(&self, which: SecretKind) -> Result<Option<Secret>> {
        match self.entry(which)?.get_password() {
            Ok(s) => Ok(Some(Secret::new(s))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn set(&self, which: SecretKind, secret: &Secret) -> Result<()> {
        self.entry(which)?
            .set_password(secret.expose())
            .map_err(unavailable)
    }

    fn delete(&self, which: SecretKind) -> Result<()> {
        match self.entry(which)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }
}

/// Runs a keychain call off the async threads, with a time limit.
async fn keychain<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    match tokio::time::timeout(KEYCHAIN_TIMEOUT, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => Err(ServiceError::Internal(format!("the keychain call failed: {e}"))),
        Err(_) => Err(ServiceError::KeychainUnavailable(
            "The system keychain did not answer within 15 seconds: it may be waiting to be unlocked. Unlock it and try again, or ask IT.".into(),
        )),
    }
}

/// Checks a secret's shape before it is stored, so a pasted publishable key or a stray space is caught.
pub fn validate_secret(gateway: Gateway, secret: &str) -> Result<()> {
    if secret.is_empty() {
        return Err(ServiceError::Invalid(format!(
            "No {} was given: paste it on standard input.",
            secret_name(gateway)
        )));
    }
    if secret.chars().any(char::is_whitespace) {
        return Err(ServiceError::Invalid(format!(
            "The {} contains spaces or line breaks: copy it again from the gateway's dashboard.",
            secret_name(gateway)
        )));
    }
    match gateway {
        Gateway::Stripe if secret.starts_with("pk_") => Err(ServiceError::Invalid(
            "That is Stripe's publishable key (pk_…). The keychain holds the secret key, which starts with sk_ (or rk_ for a restricted key); the publishable key goes in settings.".into(),
        )),
        Gateway::Stripe if !(secret.starts_with("sk_") || secret.starts_with("rk_")) => {
            Err(ServiceError::Invalid(
                "That is not a Stripe secret key: it starts with sk_live_ or sk_test_ (rk_ for a restricted key).".into(),
            ))
        }
        _ => Ok(()),
    }
}

pub fn secret_name(gateway: Gateway) -> &'static str {
    match gateway {
        Gateway::Stripe => "Stripe secret key",
        Gateway::Nmi => "NMI security key",
    }
}

/// What `gateway credentials set` answers (never the secret).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CredentialsStored {
    pub gateway: Gateway,
    pub message: String,
}

impl Services {
    /// Stores a gateway secret in this computer's keychain. Only the fact is logged, never the value.
    pub async fn set_gateway_credentials(
        &self,
        actor: &Actor,
        gateway: Gateway,
        secret: Secret,
    ) -> Result<CredentialsStored> {
        actor.require(Permission::ManageCredentials)?;
        validate_secret(gateway, secret.expose())?;
        let store = self.credentials.clone();
        let had = {
            let store = store.clone();
            keychain(move || store.get(gateway.into())).await?.is_some()
        };
        {
            let mut cache = self.secrets.lock().await;
            cache.remove(&gateway);
            keychain(move || store.set(gateway.into(), &secret)).await?;
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        Change::new(
            Some(actor),
            now,
            "gateway.credentials_set",
            "gateway",
            gateway,
        )
        .before(serde_json::json!({ "stored": had }))
        .after(serde_json::json!({ "stored": true, "where": "OS keychain" }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(CredentialsStored {
            gateway,
            message: format!(
                "The {} is stored in this computer's keychain. Run `clinicpay gateway check` to try it.",
                secret_name(gateway)
            ),
        })
    }

    /// The secret a live client uses; a clear error when this desk has none.
    pub(crate) async fn gateway_secret(&self, gateway: Gateway) -> Result<Secret> {
        // One keychain read per gateway per process: a busy worker must not hammer the Secret Service
        // (which drops connections under load), and calls queue rather than run side by side.
        let mut cache = self.secrets.lock().await;
        if let Some(secret) = cache.get(&gateway) {
            return Ok(secret.clone());
        }
        let store = self.credentials.clone();
        let secret = keychain(move || store.get(gateway.into()))
            .await?
            .ok_or_else(|| {
                ServiceError::CredentialsMissing(format!(
                    "This computer has no {name} in its keychain, so ClinicPay cannot reach {gateway}. IT can add it with `clinicpay gateway credentials set {id}`.",
                    name = secret_name(gateway),
                    id = gateway.as_str(),
                ))
            })?;
        cache.insert(gateway, secret.clone());
        Ok(secret)
    }

    /// Stores the reminder mail server's password in this computer's keychain (never the value logged).
    pub async fn set_smtp_password(&self, actor: &Actor, secret: Secret) -> Result<String> {
        actor.require(Permission::ManageCredentials)?;
        if secret.expose().is_empty() || secret.expose().contains(['\n', '\r']) {
            return Err(ServiceError::Invalid(
                "No mail server password was given: paste it on standard input, on one line."
                    .into(),
            ));
        }
        let store = self.credentials.clone();
        keychain(move || store.set(SecretKind::SmtpPassword, &secret)).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        Change::new(Some(actor), now, "smtp.credentials_set", "smtp", "password")
            .after(serde_json::json!({ "stored": true, "where": "OS keychain" }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok("The mail server password is stored in this computer's keychain.".into())
    }

    /// The mail server password, if this computer has one (a server without login needs none).
    pub(crate) async fn smtp_password(&self) -> Result<Option<Secret>> {
        let store = self.credentials.clone();
        keychain(move || store.get(SecretKind::SmtpPassword)).await
    }
}
