//! The clinic's one organization row and its settings document.

use chrono::{DateTime, Utc};
use clinicpay_domain::OrganizationSettings;

use crate::{to_millis, Executor, Result, StoreError, Tx};

/// The settings, or None when the database has never been set up.
pub async fn load(ex: &mut impl Executor) -> Result<Option<OrganizationSettings>> {
    let raw: Option<String> = sql_scalar!(
        ex,
        String,
        fetch_optional,
        "SELECT settings FROM organizations WHERE id = 1"
    )?;
    raw.map(|s| {
        serde_json::from_str(&s)
            .map_err(|e| StoreError::Corrupt(format!("organization settings: {e}")))
    })
    .transpose()
}

/// Writes the settings (inserting the organization the first time).
pub async fn save(tx: &mut Tx, settings: &OrganizationSettings, at: DateTime<Utc>) -> Result<()> {
    let json = serde_json::to_string(settings)
        .map_err(|e| StoreError::Corrupt(format!("organization settings: {e}")))?;
    sql!(
        tx,
        execute,
        "INSERT INTO organizations (id, name, active_gateway, currency, settings, updated_at)
         VALUES (1, $1, $2, $3, $4, $5)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, active_gateway = excluded.active_gateway,
             currency = excluded.currency, settings = excluded.settings, updated_at = excluded.updated_at",
        &settings.clinic_name,
        settings.active_gateway.as_str(),
        settings.currency.code(),
        &json,
        to_millis(at)
    )?;
    Ok(())
}
