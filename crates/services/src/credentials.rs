//! Gateway credentials: the Stripe secret key and the NMI security key live in this computer's OS
//! keychain (Secret Service, macOS Keychain, Windows Credential Manager), never in files, the database or
//! logs. Training mode never reads them: it talks to the built-in simulator with its own keys.

use std::time::Duration;

use clinicpay_domain::{Gateway, OrganizationSettings, Permission, WebAddress};
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
    /// The billing worker account's name and password on the computer that runs `clinicpay worker`.
    WorkerSignIn,
    /// The clinic's PostgreSQL address (with its password) this desk chose in first-run setup.
    DatabaseUrl,
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
        SecretKind::WorkerSignIn => "worker.sign-in",
        SecretKind::DatabaseUrl => "database.url",
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
pub(crate) async fn run_keychain<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    keychain(f).await
}

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

/// NMI's published test-mode security key (their documentation's examples and sandbox): it takes no
/// real money, so a live clinic must not run on it.
const NMI_PUBLIC_TEST_KEY: &str = "6457Thfj624V5r7WUwc5v6a68Zsd6YEm";

/// Whether a secret takes real money: Stripe says so in the key (`sk_live_`/`sk_test_`, `rk_…` alike);
/// NMI's keys do not, except its published test key.
fn is_test_key(gateway: Gateway, secret: &str) -> bool {
    match gateway {
        Gateway::Stripe => secret.starts_with("sk_test_") || secret.starts_with("rk_test_"),
        Gateway::Nmi => secret == NMI_PUBLIC_TEST_KEY,
    }
}

/// A live clinic runs on live keys and a training clinic never holds one. The one exception is a test
/// build's live clinic on the stand-ins the tests run on this computer (localstripe, the simulator).
pub(crate) fn check_key_mode(
    gateway: Gateway,
    secret: &str,
    settings: &OrganizationSettings,
    test_build: bool,
) -> Result<()> {
    let test = is_test_key(gateway, secret);
    if settings.training_mode && !test && gateway == Gateway::Stripe {
        return Err(ServiceError::Invalid(
            "This is a live Stripe key (sk_live_…) and this is the training clinic, which never uses real keys: keep live keys for the clinic's live database.".into(),
        ));
    }
    let on_local_stand_in = test_build
        && address_of(settings, gateway)
            .and_then(|a| WebAddress::parse("address", &a).ok())
            .is_some_and(|a| a.is_local_http());
    if !settings.training_mode && test && !on_local_stand_in {
        return Err(ServiceError::Invalid(match gateway {
            Gateway::Stripe => "This is a Stripe test key (sk_test_…), and this clinic is live: a test key takes no real money. Paste the live secret key (sk_live_…, or rk_live_… for a restricted key) from Stripe's dashboard.".into(),
            Gateway::Nmi => "This is NMI's public test key, and this clinic is live: it takes no real money. Paste the clinic's own security key from NMI's merchant portal (Settings → Security Keys).".into(),
        }));
    }
    Ok(())
}

/// The address a gateway's secret is sent to (None: the gateway itself).
pub(crate) fn address_of(settings: &OrganizationSettings, gateway: Gateway) -> Option<String> {
    match gateway {
        Gateway::Stripe => settings.stripe_api_base.clone(),
        Gateway::Nmi => settings.nmi_api_base.clone(),
    }
}

/// A secret as the keychain holds it: bound to the address it was given for, so a desk never sends
/// it anywhere else when someone changes `stripe.api-base` or `nmi.api-base` (issue 19). A secret for
/// the gateway itself is stored bare (as before the binding); one for another address as
/// `for:ADDRESS SECRET` (neither has spaces).
struct BoundSecret {
    address: Option<String>,
    secret: Secret,
}

impl BoundSecret {
    fn encode(&self) -> Secret {
        match &self.address {
            None => self.secret.clone(),
            Some(a) => Secret::new(format!("for:{a} {}", self.secret.expose())),
        }
    }

    fn decode(stored: &Secret) -> BoundSecret {
        match stored
            .expose()
            .strip_prefix("for:")
            .and_then(|r| r.split_once(' '))
        {
            Some((address, secret)) => BoundSecret {
                address: Some(address.to_owned()),
                secret: Secret::new(secret),
            },
            None => BoundSecret {
                address: None,
                secret: stored.clone(),
            },
        }
    }
}

/// The secret itself and the keychain's text holding it, for scrubbing what is written for others.
pub(crate) fn secret_and_binding(stored: &Secret) -> [String; 2] {
    [
        BoundSecret::decode(stored).secret.expose().to_owned(),
        stored.expose().to_owned(),
    ]
}

fn shown(address: &Option<String>, gateway: Gateway) -> String {
    address
        .clone()
        .unwrap_or_else(|| format!("{gateway} itself"))
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
        let settings = self.load_settings().await?;
        let had = self.keep_gateway_secret(gateway, secret, &settings).await?;
        let address = address_of(&settings, gateway);
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
        .after(serde_json::json!({ "stored": true, "where": "OS keychain", "for": shown(&address, gateway) }))
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

    /// Checks `secret` for `gateway` under `settings` (its shape, live or test as the clinic is) and
    /// keeps it in this computer's keychain, bound to the address it may be sent to. Whether one was
    /// there before.
    pub(crate) async fn keep_gateway_secret(
        &self,
        gateway: Gateway,
        secret: Secret,
        settings: &OrganizationSettings,
    ) -> Result<bool> {
        validate_secret(gateway, secret.expose())?;
        check_key_mode(gateway, secret.expose(), settings, self.test_build())?;
        let secret = BoundSecret {
            address: address_of(settings, gateway),
            secret,
        }
        .encode();
        let store = self.credentials.clone();
        let had = {
            let store = store.clone();
            keychain(move || store.get(gateway.into())).await?.is_some()
        };
        let mut cache = self.secrets.lock().await;
        cache.remove(&gateway);
        keychain(move || store.set(gateway.into(), &secret)).await?;
        Ok(had)
    }

    /// Keeps the mail server password for `host` in this computer's keychain.
    pub(crate) async fn keep_smtp_password(&self, host: &str, secret: Secret) -> Result<()> {
        if secret.expose().is_empty() || secret.expose().contains(['\n', '\r']) {
            return Err(ServiceError::Invalid(
                "No mail server password was given: paste it on one line.".into(),
            ));
        }
        let bound = BoundSecret {
            address: Some(host.to_owned()),
            secret,
        }
        .encode();
        let store = self.credentials.clone();
        keychain(move || store.set(SecretKind::SmtpPassword, &bound)).await
    }

    /// The secret a live client sends to `address`; a clear error when this desk has none, or has one
    /// given for another address.
    pub(crate) async fn gateway_secret(
        &self,
        gateway: Gateway,
        address: Option<&str>,
    ) -> Result<Secret> {
        // One keychain read per gateway per process: a busy worker must not hammer the Secret Service
        // (which drops connections under load), and calls queue rather than run side by side.
        let mut cache = self.secrets.lock().await;
        let stored = match cache.get(&gateway) {
            Some(stored) => stored.clone(),
            None => {
                let store = self.credentials.clone();
                let stored = keychain(move || store.get(gateway.into()))
                    .await?
                    .ok_or_else(|| {
                        ServiceError::CredentialsMissing(format!(
                            "This computer has no {name} in its keychain, so ClinicPay cannot reach {gateway}. IT can add it with `clinicpay gateway credentials set {id}`.",
                            name = secret_name(gateway),
                            id = gateway.as_str(),
                        ))
                    })?;
                cache.insert(gateway, stored.clone());
                stored
            }
        };
        let bound = BoundSecret::decode(&stored);
        if bound.address.as_deref() != address {
            return Err(ServiceError::CredentialsMissing(format!(
                "The {name} on this computer was given for {was}, and {id}.api-base is now {now}: ClinicPay does not send it there. If IT moved the address, IT enters the secret again with `clinicpay gateway credentials set {id}`; if not, someone changed the address and IT should look at the activity log.",
                name = secret_name(gateway),
                was = shown(&bound.address, gateway),
                now = shown(&address.map(str::to_owned), gateway),
                id = gateway.as_str(),
            )));
        }
        Ok(bound.secret)
    }

    /// Deletes this computer's secret for `gateway` (its address changed).
    pub(crate) async fn forget_gateway_secret(&self, gateway: Gateway) -> Result<()> {
        let mut cache = self.secrets.lock().await;
        cache.remove(&gateway);
        let store = self.credentials.clone();
        keychain(move || store.delete(gateway.into())).await
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
        // Bound to the mail server it is for, like the gateways' secrets to their addresses.
        let host = self.load_settings().await?.smtp.host.ok_or_else(|| {
            ServiceError::Invalid(
                "Set smtp.host first: the password is kept for that mail server only.".into(),
            )
        })?;
        let bound = BoundSecret {
            address: Some(host.clone()),
            secret,
        }
        .encode();
        let store = self.credentials.clone();
        keychain(move || store.set(SecretKind::SmtpPassword, &bound)).await?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        Change::new(Some(actor), now, "smtp.credentials_set", "smtp", "password")
            .after(serde_json::json!({ "stored": true, "where": "OS keychain", "for": host }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(format!(
            "The mail server password is stored in this computer's keychain, for {host}."
        ))
    }

    /// The mail server password for `host`, if this computer has one (a server without login needs
    /// none). One given for another server is not sent to this one.
    pub(crate) async fn smtp_password(&self, host: &str) -> Result<Option<Secret>> {
        let store = self.credentials.clone();
        let Some(stored) = keychain(move || store.get(SecretKind::SmtpPassword)).await? else {
            return Ok(None);
        };
        let bound = BoundSecret::decode(&stored);
        if bound.address.as_deref() != Some(host) {
            return Err(ServiceError::CredentialsMissing(format!(
                "The mail server password on this computer was given for {}, and smtp.host is now {host}: ClinicPay does not send it there. IT enters it again with `clinicpay smtp password set`.",
                bound.address.as_deref().unwrap_or("a server before passwords were tied to their server")
            )));
        }
        Ok(Some(bound.secret))
    }

    /// Every secret this computer's keychain holds for ClinicPay, in the forms it could appear in,
    /// so that what is written for others (the diagnostics bundle) can leave them out.
    pub(crate) async fn stored_secrets(&self) -> Vec<String> {
        let mut all = Vec::new();
        for kind in [
            SecretKind::Gateway(Gateway::Stripe),
            SecretKind::Gateway(Gateway::Nmi),
            SecretKind::SmtpPassword,
            SecretKind::WorkerSignIn,
            SecretKind::DatabaseUrl,
        ] {
            let store = self.credentials.clone();
            if let Ok(Some(stored)) = keychain(move || store.get(kind)).await {
                all.extend(secret_and_binding(&stored));
                if kind == SecretKind::WorkerSignIn {
                    if let Some((_, password)) = stored.expose().split_once('\n') {
                        all.push(password.to_owned());
                    }
                }
            }
        }
        all
    }
}

impl Services {
    /// Keeps the worker account's sign-in in this computer's keychain, after checking it signs in as a
    /// worker (a person's account is refused: its password does not belong on a server).
    pub async fn set_worker_credentials(&self, username: &str, password: &str) -> Result<String> {
        let worker = self.sign_in_via(username, password, "worker setup").await?;
        if worker.role != clinicpay_domain::Role::Worker {
            return Err(ServiceError::Invalid(format!(
                "{} is a {} account, not a worker's: IT makes one for the worker (`clinicpay staff add billing-worker --role worker`), so no person's password is kept on this computer.",
                worker.username,
                worker.role.display_name()
            )));
        }
        let stored = Secret::new(format!("{}\n{password}", worker.username));
        let store = self.credentials.clone();
        keychain(move || store.set(SecretKind::WorkerSignIn, &stored)).await?;
        let mut tx = self.store().begin().await?;
        Change::new(
            Some(&worker),
            self.now(),
            "worker.credentials_set",
            "staff",
            worker.id,
        )
        .after(serde_json::json!({ "stored": true, "where": "OS keychain" }))
        .record(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(format!(
            "The worker account {} is stored in this computer's keychain: `clinicpay worker` signs in with it.",
            worker.username
        ))
    }

    /// Signs in as the worker account stored on this computer.
    pub async fn sign_in_stored_worker(&self) -> Result<Actor> {
        let store = self.credentials.clone();
        let stored = keychain(move || store.get(SecretKind::WorkerSignIn))
            .await?
            .ok_or_else(|| {
                ServiceError::NotSignedIn(
                    "The worker signs in as its own account, and this computer has none: IT creates one (`clinicpay --as it staff add billing-worker --role worker`) and stores it here (`clinicpay --as billing-worker worker credentials set`, password on stdin).".into(),
                )
            })?;
        let (name, password) = stored.expose().split_once('\n').unwrap_or(("", ""));
        self.sign_in_via(name, password, "worker")
            .await
            .map_err(|e| match e {
                ServiceError::SignInFailed => ServiceError::NotSignedIn(format!(
                    "The worker account {name} stored on this computer no longer signs in (its password was reset?): IT stores it again with `clinicpay --as {name} worker credentials set`."
                )),
                other => other,
            })
    }
}
