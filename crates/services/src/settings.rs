//! Organization settings: shown to everyone, changed by billing managers and IT, every change logged.

use clinicpay_domain::{ManagedValue, OrganizationSettings, Permission, SettingKey};
use clinicpay_store::organization;
use serde::Serialize;

use crate::{Actor, Change, Result, ServiceError, Services};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SettingValue {
    pub key: &'static str,
    pub value: String,
    /// Pinned by IT's managed configuration on this computer: shown, not changeable here.
    pub managed: bool,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SettingsView {
    pub values: Vec<SettingValue>,
    /// The managed configuration file of this computer, if IT deployed one.
    pub managed_file: Option<String>,
    /// Everything that file sets (the database address without its password).
    pub managed: Vec<ManagedValue>,
    #[serde(skip)]
    pub settings: OrganizationSettings,
}

impl SettingsView {
    fn of(settings: OrganizationSettings, managed: &crate::managed::Managed) -> SettingsView {
        SettingsView {
            values: SettingKey::ALL
                .into_iter()
                .map(|k| SettingValue {
                    key: k.name(),
                    value: k.value_of(&settings),
                    managed: managed.config.manages(k),
                })
                .collect(),
            managed_file: managed.source_name(),
            managed: managed.config.values(clinicpay_store::redact_url),
            settings,
        }
    }
}

/// What `settings set` answers.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct SettingChanged {
    pub key: &'static str,
    pub before: String,
    pub after: String,
    pub message: String,
}

impl Services {
    pub async fn settings(&self, actor: &Actor) -> Result<SettingsView> {
        actor.require(Permission::ViewPatients)?;
        Ok(SettingsView::of(
            self.load_settings().await?,
            self.managed(),
        ))
    }

    /// Changes one setting. Invalid values and incoherent combinations are refused and change nothing.
    pub async fn set_setting(
        &self,
        actor: &Actor,
        key: &str,
        value: &str,
    ) -> Result<SettingChanged> {
        actor.require(Permission::ChangeSettings)?;
        let key: SettingKey = key.parse()?;
        if self.managed().config.manages(key) {
            return Err(ServiceError::ManagedByIt(format!(
                "{key} is set by IT on this computer (in {}), so it cannot be changed here. Ask IT to change the managed configuration.",
                self.managed().source_name().unwrap_or_default()
            )));
        }
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let current = organization::load(&mut tx).await?.unwrap_or_default();
        let changed = key.apply(&current, value)?;
        if key == SettingKey::Currency && changed.currency != current.currency {
            let counts = clinicpay_store::overview::clinic_counts(&mut tx).await?;
            let money_moved =
                counts.open_invoices + counts.failed_payments + counts.active_subscriptions;
            if money_moved > 0 {
                return Err(ServiceError::Invalid(format!(
                    "The currency cannot change from {} once invoices or payments exist: amounts already recorded are in {}.",
                    current.currency, current.currency
                )));
            }
        }
        let before = key.value_of(&current);
        let after = key.value_of(&changed);
        organization::save(&mut tx, &changed, now).await?;
        Change::new(Some(actor), now, "setting.changed", "setting", key.name())
            .before(serde_json::json!({ key.name(): &before }))
            .after(serde_json::json!({ key.name(): &after }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        let message = if before == after {
            format!("{} was already {}.", key.name(), show(&after))
        } else {
            format!(
                "{} is now {} (was {}).",
                key.name(),
                show(&after),
                show(&before)
            )
        };
        Ok(SettingChanged {
            key: key.name(),
            before,
            after,
            message,
        })
    }

    /// Writes the settings of a brand-new clinic (used by the demo seed).
    pub(crate) async fn initialise_settings(
        &self,
        tx: &mut clinicpay_store::Tx,
        actor: Option<&Actor>,
        settings: &OrganizationSettings,
    ) -> Result<()> {
        settings.validate()?;
        let now = self.now();
        organization::save(tx, settings, now).await?;
        Change::new(
            actor,
            now,
            "settings.initialised",
            "setting",
            "organization",
        )
        .after(settings)
        .record(tx)
        .await
    }
}

fn show(v: &str) -> String {
    if v.is_empty() {
        "(the default)".into()
    } else {
        v.into()
    }
}
