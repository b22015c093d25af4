//! First-run setup (issue 20): a new clinic set up from the installed app's window, with no command line.
//! The window walks IT through the clinic, its first IT account, the gateway (its secret straight into
//! this computer's keychain, then a live check), an optional fallback gateway and mail server (with a
//! test email). What has been typed is kept as a [`SetupDraft`] on this computer (no secret in it), so a
//! closed window resumes where it was; the clinic itself is written only by [`Services::finish_setup`],
//! in one transaction, so a database holds a whole clinic or none.
//!
//! Who may do this: anybody at a desk whose database holds no clinic (as with the CLI's first `staff add`).
//! Every step refuses once a clinic exists, and the finish takes turns with any other desk setting the
//! same database up. The secrets typed here go only to this computer's keychain, bound to the address
//! they may be sent to, as `gateway credentials set` does.

use std::path::Path;
use std::sync::Arc;

use clinicpay_domain::{check_gateway_address, Gateway, OrganizationSettings, Role, SettingKey};
use clinicpay_gateways::{MemoryLog, Secret};
use serde::{Deserialize, Serialize};

use crate::clinic::ClinicInfo;
use crate::credentials::secret_name;
use crate::credentials::{CredentialStore, SecretKind};
use crate::staff::{check_new_password, check_username, hash_password};
use crate::{Change, Result, ServiceError, Services};

/// What the person setting the clinic up has typed so far (never a secret or the password).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SetupDraft {
    /// The step the window was on, to resume there.
    pub step: String,
    pub clinic_name: String,
    /// ISO code, e.g. USD.
    pub currency: String,
    pub it_username: String,
    pub it_display_name: String,
    /// The gateway the clinic takes cards through.
    pub gateway: Option<Gateway>,
    pub fallback_gateway: Option<Gateway>,
    /// Stripe's publishable key (pk_…) and NMI's tokenization key: public by design.
    pub stripe_publishable_key: String,
    pub nmi_tokenization_key: String,
    /// Where a gateway's API is, when not the gateway itself (IT's relay): https only.
    pub stripe_api_base: String,
    pub nmi_api_base: String,
    /// Gateways whose key this computer's keychain holds and that answered the live check, with the
    /// addresses above.
    pub checked: Vec<Gateway>,
    pub smtp_host: String,
    pub smtp_port: String,
    /// starttls, tls or none.
    pub smtp_security: String,
    pub smtp_username: String,
    pub smtp_from: String,
    /// The test email went through with these mail settings.
    pub smtp_tested: bool,
}

impl SetupDraft {
    /// The draft kept at `path`; an empty one when there is none (or it cannot be read, or is from
    /// another version: it holds nothing that cannot be typed again).
    pub fn load(path: &Path) -> SetupDraft {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Keeps the draft at `path` (written whole, then moved into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| ServiceError::Internal(format!("setup draft: {e}")))?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| cannot_keep(path, e))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| cannot_keep(path, e))?;
        std::fs::rename(&tmp, path).map_err(|e| cannot_keep(path, e))
    }

    /// The clinic's settings as the draft says, each value checked as `settings set` would.
    pub fn settings(&self, test_build: bool) -> Result<OrganizationSettings> {
        if self.clinic_name.trim().is_empty() {
            return Err(ServiceError::Invalid(
                "Give the clinic's name as patients know it (it is on every email and report)."
                    .into(),
            ));
        }
        if self.fallback_gateway.is_some() && self.fallback_gateway == self.gateway {
            return Err(ServiceError::Invalid(format!(
                "The fallback gateway must be the other one: {} is already the clinic's gateway.",
                self.gateway.map(|g| g.to_string()).unwrap_or_default()
            )));
        }
        let currency = match self.currency.trim() {
            "" => "USD",
            c => c,
        };
        let mut given: Vec<(SettingKey, &str)> = vec![
            (SettingKey::ClinicName, &self.clinic_name),
            (SettingKey::Currency, currency),
        ];
        given.extend(self.gateway.map(|g| (SettingKey::Gateway, g.as_str())));
        given.extend(
            self.fallback_gateway
                .map(|g| (SettingKey::FallbackGateway, g.as_str())),
        );
        given.extend([
            (SettingKey::StripeApiBase, self.stripe_api_base.as_str()),
            (SettingKey::NmiApiBase, &self.nmi_api_base),
            (
                SettingKey::StripePublishableKey,
                &self.stripe_publishable_key,
            ),
            (SettingKey::NmiTokenizationKey, &self.nmi_tokenization_key),
        ]);
        if !self.smtp_host.trim().is_empty() {
            given.extend([
                (SettingKey::SmtpHost, self.smtp_host.as_str()),
                (SettingKey::SmtpPort, &self.smtp_port),
                (SettingKey::SmtpSecurity, &self.smtp_security),
                (SettingKey::SmtpUsername, &self.smtp_username),
                (SettingKey::SmtpFrom, &self.smtp_from),
            ]);
        }
        let mut s = OrganizationSettings::default();
        for (key, value) in given {
            if !value.trim().is_empty() {
                s = key.apply(&s, value)?;
            }
        }
        // A live clinic's secrets go over https only (the stand-ins on this computer in test builds).
        check_gateway_address(
            Gateway::Stripe,
            s.stripe_api_base.as_deref(),
            false,
            test_build,
        )?;
        check_gateway_address(Gateway::Nmi, s.nmi_api_base.as_deref(), false, test_build)?;
        if s.smtp.host.is_some() && s.smtp.from.is_none() {
            return Err(ServiceError::Invalid(
                "Give the address reminder emails come from, e.g. billing@clinic.example.".into(),
            ));
        }
        Ok(s)
    }
}

fn cannot_keep(path: &Path, e: std::io::Error) -> ServiceError {
    ServiceError::Internal(format!(
        "ClinicPay cannot write {} ({e}): check that this user may write to ClinicPay's folder, or ask IT.",
        path.display()
    ))
}

/// What the live check of a gateway found during setup.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SetupCheck {
    pub works: bool,
    /// ok, credentials_missing, credentials_refused, gateway_unavailable, invalid_input…
    pub status: String,
    pub message: String,
    /// The draft as it is now (with the gateway marked checked when it works).
    pub draft: SetupDraft,
}

/// Where this desk keeps the demo clinic it opened from the first-run screen, and the note of which
/// database it chose there (the clinic's PostgreSQL address itself is in the keychain: it holds a password).
pub const DEMO_CLINIC_FILE: &str = "demo-clinic.db";
const DESK_DATABASE_FILE: &str = "desk-database.json";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct DeskDatabase {
    /// `demo`: the demo clinic in `folder/demo-clinic.db`; `postgres`: the address in the keychain.
    database: String,
}

/// The database this desk chose on its first-run screen (noted in `folder`), if it chose one: used only
/// when neither `--db` nor IT's managed configuration names one.
pub fn desk_database(folder: &Path, keychain: &dyn CredentialStore) -> Option<String> {
    let text = std::fs::read_to_string(folder.join(DESK_DATABASE_FILE)).ok()?;
    let choice: DeskDatabase = serde_json::from_str(&text).ok()?;
    match choice.database.as_str() {
        "demo" => Some(folder.join(DEMO_CLINIC_FILE).display().to_string()),
        "postgres" => keychain
            .get(SecretKind::DatabaseUrl)
            .ok()
            .flatten()
            .map(|u| u.expose().to_owned()),
        _ => None,
    }
}

fn note_desk_database(folder: &Path, database: &str) -> Result<()> {
    let file = folder.join(DESK_DATABASE_FILE);
    std::fs::create_dir_all(folder).map_err(|e| cannot_keep(&file, e))?;
    let text = serde_json::to_string(&DeskDatabase {
        database: database.into(),
    })
    .map_err(|e| ServiceError::Internal(e.to_string()))?;
    std::fs::write(&file, text).map_err(|e| cannot_keep(&file, e))
}

/// Notes in `folder` that this desk opens the demo clinic from now on; its database's address.
pub fn remember_demo_clinic(folder: &Path) -> Result<String> {
    note_desk_database(folder, "demo")?;
    Ok(folder.join(DEMO_CLINIC_FILE).display().to_string())
}

/// One demo clinic made at a time on this computer.
static MAKING_DEMO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What connecting to the clinic's PostgreSQL from the first-run screen found.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct DatabaseChosen {
    /// The address, without its password.
    pub database: String,
    /// The clinic already in it, which this desk now joins; None: an empty database, set up next.
    pub clinic_name: Option<String>,
    pub message: String,
}

/// Where the clinic being set up will live, as the first-run screen shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SetupDatabase {
    /// The address or file, without any password.
    pub database: String,
    /// `sqlite` (this computer) or `postgres` (the clinic's server).
    pub kind: String,
    /// IT's managed configuration names it: the window offers no other.
    pub pinned_by_it: bool,
}

/// The clinic's PostgreSQL address from what IT typed: `postgres://USER@HOST/DATABASE`, with the
/// password (typed apart, so it is never shown) put in.
pub fn clinic_database_url(address: &str, password: Option<&str>) -> Result<String> {
    let address = address.trim();
    let wrong = || {
        ServiceError::Invalid(format!(
            "\"{}\" is not a PostgreSQL address: give it as postgres://USER@HOST/DATABASE (the password in its own field).",
            clinicpay_store::redact_url(address)
        ))
    };
    let mut url = url::Url::parse(address).map_err(|_| wrong())?;
    if !matches!(url.scheme(), "postgres" | "postgresql") || url.host_str().is_none() {
        return Err(wrong());
    }
    if let Some(p) = password.filter(|p| !p.is_empty()) {
        url.set_password(Some(p)).map_err(|_| wrong())?;
    }
    Ok(url.to_string())
}

impl Services {
    /// The setup typed so far on this computer (kept at `path`), while this database has no clinic.
    pub async fn setup_draft(&self, path: &Path) -> Result<SetupDraft> {
        self.require_no_clinic().await?;
        Ok(SetupDraft::load(path))
    }

    /// Keeps the setup typed so far at `path` (nothing secret is in it).
    pub async fn keep_setup_draft(&self, path: &Path, draft: &SetupDraft) -> Result<()> {
        self.require_no_clinic().await?;
        draft.save(path)
    }

    /// Whether this desk may open the demo clinic instead of setting one up: its database has no
    /// clinic, and IT has not turned training off here.
    pub async fn require_demo_allowed(&self) -> Result<()> {
        self.require_no_clinic().await?;
        self.require_training_allowed()
    }

    /// The database this desk is setting a clinic up in (`url`, as the app opened it).
    pub async fn setup_database(&self, url: &str) -> Result<SetupDatabase> {
        self.require_no_clinic().await?;
        Ok(SetupDatabase {
            database: clinicpay_store::redact_url(url),
            kind: match self.store().dialect() {
                clinicpay_store::Dialect::Sqlite => "sqlite".into(),
                clinicpay_store::Dialect::Postgres => "postgres".into(),
            },
            pinned_by_it: self.managed().config.database_url.is_some(),
        })
    }

    /// First-run setup on a desk with no clinic: use the clinic's PostgreSQL (`url`, trusted as IT's
    /// managed configuration says) instead. Connects and migrates it, and says whether it already holds
    /// a clinic (this desk joins it) or is empty (setup goes on there). The choice is kept for later
    /// starts: the address in this computer's keychain, a note in `folder`. The caller opens it.
    pub async fn choose_clinic_database(
        &self,
        url: &str,
        folder: &Path,
    ) -> Result<(clinicpay_store::Store, DatabaseChosen)> {
        self.require_no_clinic().await?;
        if let Some(pinned) = &self.managed().config.database_url {
            return Err(ServiceError::ManagedByIt(format!(
                "IT set this desk's database ({}) in {}: it cannot be changed here.",
                clinicpay_store::redact_url(pinned),
                self.managed().source_name().unwrap_or_default()
            )));
        }
        let shown = clinicpay_store::redact_url(url);
        let store = clinicpay_store::Store::open_with(url, &self.managed().database_trust())
            .await
            .map_err(|e| {
                ServiceError::DatabaseUnavailable(format!(
                    "ClinicPay cannot use the database at {shown}: {e}. Check the address, the password and that this computer may reach it; if its certificate is the clinic's own, IT names its CA in the managed configuration (database-ca-file)."
                ))
            })?;
        let clinic_name = {
            let mut r = store.reader().await?;
            clinicpay_store::organization::load(&mut r)
                .await?
                .map(|s| s.clinic_name)
        };
        let secret = Secret::new(url);
        let keychain = self.credentials.clone();
        crate::credentials::run_keychain(move || keychain.set(SecretKind::DatabaseUrl, &secret))
            .await?;
        note_desk_database(folder, "postgres")?;
        let message = match &clinic_name {
            Some(name) => format!(
                "{shown} holds {name}: this desk now opens it. Sign in with your account there."
            ),
            None => format!("{shown} is empty and ready: the clinic will be set up there."),
        };
        Ok((
            store,
            DatabaseChosen {
                database: shown,
                clinic_name,
                message,
            },
        ))
    }

    /// The demo clinic in `folder` (made whole first if it is not there: seeded in a file of its own,
    /// then moved into place, so a crash leaves no half-made demo), then noted as this desk's database.
    /// Its address, for the caller to open.
    pub async fn prepare_demo_clinic(&self, folder: &Path) -> Result<String> {
        self.require_demo_allowed().await?;
        let _one = MAKING_DEMO.lock().await;
        let file = folder.join(DEMO_CLINIC_FILE);
        if !file.exists() {
            std::fs::create_dir_all(folder).map_err(|e| cannot_keep(&file, e))?;
            let seeding = folder.join("demo-clinic.seeding.db");
            for leftover in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{leftover}", seeding.display()));
            }
            let store = clinicpay_store::Store::open(&seeding.display().to_string()).await?;
            let demo = Services::with_credentials(
                store.clone(),
                self.clock.clone(),
                self.credentials.clone(),
            )
            .with_managed(self.managed().clone());
            let seeded = demo.seed_demo(None, 300, 7).await;
            let written = store.checkpoint().await;
            store.close().await;
            seeded?;
            written?;
            std::fs::rename(&seeding, &file).map_err(|e| cannot_keep(&file, e))?;
            // Anything SQLite still keeps beside the file goes with it.
            for side in ["-wal", "-shm"] {
                let from = format!("{}{side}", seeding.display());
                if std::path::Path::new(&from).exists() {
                    std::fs::rename(&from, format!("{}{side}", file.display()))
                        .map_err(|e| cannot_keep(&file, e))?;
                }
            }
        }
        remember_demo_clinic(folder)
    }

    /// Refuses once the database holds a clinic (or any staff account): setup is for a new one.
    async fn require_no_clinic(&self) -> Result<()> {
        let mut r = self.store().reader().await?;
        let configured = clinicpay_store::organization::load(&mut r).await?.is_some();
        let staffed = !clinicpay_store::staff::list(&mut r).await?.is_empty();
        if configured || staffed {
            return Err(ServiceError::Conflict(
                "This database already holds a clinic: sign in with its accounts instead (ask IT for one).".into(),
            ));
        }
        Ok(())
    }

    /// Checks the first IT account's name and password (the step's own sentence when wrong).
    pub async fn check_setup_account(&self, draft: &SetupDraft, password: &str) -> Result<()> {
        self.require_no_clinic().await?;
        check_username(&draft.it_username)?;
        check_new_password(password)
    }

    /// Keeps `secret` (when given) for `gateway` in this computer's keychain, bound to the draft's
    /// address for it, then makes the gateway's own harmless call with it. A key that works marks the
    /// gateway checked in the returned draft; any change to its address or keys needs a new check.
    pub async fn check_setup_gateway(
        &self,
        draft: &SetupDraft,
        gateway: Gateway,
        secret: Option<String>,
    ) -> Result<SetupCheck> {
        self.require_no_clinic().await?;
        let settings = draft.settings(self.test_build())?;
        let mut draft = draft.clone();
        draft.checked.retain(|g| *g != gateway);
        // A typed key is tried first and kept only if the gateway takes it: a wrong one never
        // replaces a key this computer already holds.
        let typed = secret
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .map(Secret::new);
        if let Some(t) = &typed {
            crate::credentials::validate_secret(gateway, t.expose())?;
        }
        let kept_already = typed.is_none();
        let result = self.live_check(gateway, &settings, typed.clone()).await;
        if let (Ok(()), Some(t)) = (&result, typed) {
            self.keep_gateway_secret(gateway, t, &settings).await?;
        }
        Ok(match result {
            Ok(()) => {
                draft.checked.push(gateway);
                SetupCheck {
                    works: true,
                    status: "ok".into(),
                    message: if kept_already {
                        format!(
                            "{gateway} accepts the {} already kept in this computer's keychain.",
                            secret_name(gateway)
                        )
                    } else {
                        format!(
                            "{gateway} accepts the {}: it is now kept in this computer's keychain.",
                            secret_name(gateway)
                        )
                    },
                    draft,
                }
            }
            Err(e) => SetupCheck {
                works: false,
                status: e.code().as_str().into(),
                message: e.to_string(),
                draft,
            },
        })
    }

    /// One harmless call to `gateway` as `settings` say, with `typed` or the keychain's key.
    async fn live_check(
        &self,
        gateway: Gateway,
        settings: &OrganizationSettings,
        typed: Option<Secret>,
    ) -> Result<()> {
        let log = Arc::new(MemoryLog::default());
        let client = self
            .gateway_client_logged(gateway, settings, log, typed)
            .await?;
        client.check().await.map_err(ServiceError::from)
    }

    /// Keeps the mail server's password (when given) and sends a test email to `to` with the draft's
    /// mail settings; the returned draft says whether it went.
    pub async fn send_setup_test_email(
        &self,
        draft: &SetupDraft,
        password: Option<String>,
        to: &str,
    ) -> Result<SetupDraft> {
        self.require_no_clinic().await?;
        let settings = draft.settings(self.test_build())?;
        let host = settings.smtp.host.clone().ok_or_else(|| {
            ServiceError::Invalid(
                "Give the mail server's name first (e.g. smtp.office365.com).".into(),
            )
        })?;
        // Only a password typed here is used (and kept once the test went through): setup never
        // sends mail with a password this computer held before.
        let password = password.filter(|p| !p.is_empty()).map(Secret::new);
        if settings.smtp.username.is_some() && password.is_none() {
            return Err(ServiceError::Invalid(
                "Type the mail server's password for this sign-in name (or leave the sign-in name empty for a server that asks none).".into(),
            ));
        }
        let mut draft = draft.clone();
        draft.smtp_tested = false;
        self.send_test_email(&settings, password.clone(), to)
            .await?;
        if let Some(p) = password {
            self.keep_smtp_password(&host, p).await?;
        }
        draft.smtp_tested = true;
        Ok(draft)
    }

    /// Creates the clinic the draft describes, with its first IT account, in one transaction, after
    /// checking every step again: the clinic's gateway (and the fallback, if any) checked with a key
    /// this computer holds, and the mail server tested if one is given.
    pub async fn finish_setup(&self, draft: &SetupDraft, password: &str) -> Result<ClinicInfo> {
        self.require_no_clinic().await?;
        let settings = draft.settings(self.test_build())?;
        let gateway = draft.gateway.ok_or_else(|| {
            ServiceError::Invalid("Choose the gateway the clinic takes cards through.".into())
        })?;
        for g in std::iter::once(gateway).chain(draft.fallback_gateway) {
            if !draft.checked.contains(&g) {
                return Err(ServiceError::Invalid(format!(
                    "Check {g} first: ClinicPay makes one harmless call with its {} before the clinic uses it.",
                    secret_name(g)
                )));
            }
            // Checked again now, with the key this computer keeps: the draft's word is not enough.
            self.live_check(g, &settings, None).await.map_err(|e| {
                ServiceError::Invalid(format!(
                    "{g} did not answer the check again ({e}). Check it in its step, then set up the clinic."
                ))
            })?;
            let public = match g {
                Gateway::Stripe => &settings.stripe_publishable_key,
                Gateway::Nmi => &settings.nmi_tokenization_key,
            };
            if public.is_none() {
                return Err(ServiceError::Invalid(match g {
                    Gateway::Stripe => "Give Stripe's publishable key (pk_live_…, from Stripe's dashboard → Developers → API keys): the card form needs it.".into(),
                    Gateway::Nmi => "Give NMI's tokenization key (from NMI's merchant portal → Settings → Security Keys, \"Tokenization\"): the card form needs it.".into(),
                }));
            }
        }
        if settings.smtp.host.is_some() && !draft.smtp_tested {
            return Err(ServiceError::Invalid(
                "Send the test email first, or leave the mail server empty (reminders can be set up later in Settings).".into(),
            ));
        }
        let username = check_username(&draft.it_username)?;
        check_new_password(password)?;
        let display_name = match draft.it_display_name.trim() {
            "" => username.clone(),
            d => d.to_owned(),
        };
        // Argon2 is slow: before the transaction.
        let hash = hash_password(password)?;
        let now = self.now();
        let mut tx = self.store().begin().await?;
        // Taking turns with any other desk finishing a setup of the same database.
        clinicpay_store::staff::take_turns(&mut tx).await?;
        let configured = clinicpay_store::organization::load(&mut tx)
            .await?
            .is_some();
        if configured || !clinicpay_store::staff::list(&mut tx).await?.is_empty() {
            return Err(ServiceError::Conflict(
                "Another desk set this clinic up a moment ago: sign in with its accounts instead."
                    .into(),
            ));
        }
        clinicpay_store::organization::save(&mut tx, &settings, now).await?;
        let member = clinicpay_store::staff::insert(
            &mut tx,
            &username,
            &display_name,
            Role::ItAdmin,
            &hash,
            now,
        )
        .await?;
        let it = crate::staff::actor_of(&member);
        let shown: serde_json::Map<String, serde_json::Value> = SettingKey::ALL
            .into_iter()
            .map(|k| (k.name().to_owned(), k.value_of(&settings).into()))
            .collect();
        Change::new(Some(&it), now, "clinic.set_up", "organization", 1)
            .after(shown)
            .record(&mut tx)
            .await?;
        Change::new(Some(&it), now, "staff.added", "staff", member.id)
            .after(crate::staff::StaffView::from(&member))
            .record(&mut tx)
            .await?;
        for g in std::iter::once(gateway).chain(draft.fallback_gateway) {
            Change::new(Some(&it), now, "gateway.credentials_set", "gateway", g)
                .after(serde_json::json!({ "stored": true, "where": "OS keychain", "during": "setup", "checked": true }))
                .record(&mut tx)
                .await?;
        }
        tx.commit().await?;
        self.clinic_info().await
    }
}
