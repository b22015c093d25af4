//! What the window shows before anyone signs in: which clinic this is and whether it is the demo.

use clinicpay_domain::Gateway;
use serde::Serialize;

use crate::{Result, Services};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct ClinicInfo {
    pub clinic_name: String,
    pub active_gateway: Gateway,
    /// Tried by a manual retry when the patient has no card on the gateway chosen (document 003).
    pub fallback_gateway: Option<Gateway>,
    /// The demo clinic on the built-in simulators: no real money moves.
    pub training_mode: bool,
    /// False for a database nobody has set up yet.
    pub configured: bool,
    /// The desk locks after this many idle minutes (0: never).
    pub desk_lock_minutes: u32,
    /// IT's managed configuration forbids training on this desk (and this clinic is a training one).
    pub training_refused: bool,
}

impl Services {
    /// Public facts about the clinic, needed on the sign-in screen. Nothing here is private.
    pub async fn clinic_info(&self) -> Result<ClinicInfo> {
        let mut r = self.store().reader().await?;
        let saved = clinicpay_store::organization::load(&mut r).await?;
        let configured = saved.is_some();
        let s = self.managed().config.apply(saved.unwrap_or_default())?;
        Ok(ClinicInfo {
            clinic_name: s.clinic_name,
            active_gateway: s.active_gateway,
            fallback_gateway: s.fallback_gateway,
            training_mode: s.training_mode,
            configured,
            desk_lock_minutes: s.desk_lock_minutes,
            training_refused: s.training_mode && !self.managed().config.training_allowed(),
        })
    }
}
