//! Organization settings: shown to everyone, changed by billing managers and IT, every change logged.

use clinicpay_domain::{
    check_gateway_address, Gateway, ManagedValue, OrganizationSettings, Permission, SettingKey,
};
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
    /// Who may change it: `change_settings` (billing managers and IT) or `change_security_settings` (IT).
    pub permission: Permission,
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
                    permission: k.permission(),
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
        let key: SettingKey = key.parse()?;
        actor.require(key.permission())?;
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
        if key == SettingKey::DeskLockMinutes && changed.desk_lock_minutes == 0 {
            // A desk that never locks leaves a signed-in session to whoever walks up: IT's call.
            actor.require(Permission::ChangeSecuritySettings)?;
        }
        let address_of = |s: &clinicpay_domain::OrganizationSettings, g| match g {
            Gateway::Stripe => s.stripe_api_base.clone(),
            Gateway::Nmi => s.nmi_api_base.clone(),
        };
        let moved = match key {
            SettingKey::StripeApiBase => Some(Gateway::Stripe),
            SettingKey::NmiApiBase => Some(Gateway::Nmi),
            _ => None,
        }
        .filter(|g| address_of(&current, *g) != address_of(&changed, *g));
        if let Some(g) = moved {
            check_gateway_address(
                g,
                address_of(&changed, g).as_deref(),
                changed.training_mode,
                self.test_build(),
            )?;
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
        if let Some(g) = moved {
            // The secret was given for the old address: this desk forgets it, and every other desk
            // refuses to send it to the new one (it is bound to its address, see `credentials`), so a
            // failure to delete it here is harmless.
            let _ = self.forget_gateway_secret(g).await;
        }
        let mut message = if before == after {
            format!("{} was already {}.", key.name(), show(&after))
        } else {
            format!(
                "{} is now {} (was {}).",
                key.name(),
                show(&after),
                show(&before)
            )
        };
        if let Some(g) = moved {
            message.push_str(&format!(
                " The {} given for the old address is not sent to the new one: IT enters it again with `clinicpay gateway credentials set {}`.",
                crate::credentials::secret_name(g),
                g.as_str()
            ));
        }
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
