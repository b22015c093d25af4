//! Cards typed on the gateway's own page (issue 22): Stripe Checkout in setup mode.
//!
//! - **At the desk**, where the window cannot run Stripe Elements live (`domain::card_entry`), the
//!   desk opens the page in a window of its own and watches it reach its success or Back address
//!   (never loaded: they are on `clinicpay.invalid`). Either way, ClinicPay then asks Stripe how the
//!   page ended, and saves its card through the same path as a card typed in Elements.
//! - **As a secure card link**, the page's address is given to the patient (by email). The billing
//!   engine polls open pages; when the patient completes one, it saves the card as the desk would and
//!   runs the patient's recovery retries.
//!
//! Every page is a row of `card_setups`, made before anyone can type on it. Whoever saves its card
//! claims the row first, so the desk and the engine never both save it, and a card already recorded
//! (a finisher that died after saving) is recognised by its reference instead of saved again.

use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use clinicpay_domain::notices::{NoticeStage, NoticeValues};
use clinicpay_domain::{
    Gateway, OrderId, OrganizationSettings, PatientId, PaymentMethodId, Permission,
};
use clinicpay_gateways::{
    CardHolder, GatewayError, HostedSetup, HostedSetupRequest, HostedSetupStatus,
};
use clinicpay_store::card_setups::{self as repo, CardSetup, NewCardSetup, SetupKind};
use clinicpay_store::{orders, patients, payment_methods, staff, Reader};
use lettre::AsyncTransport;
use serde::Serialize;

use crate::cards::{AddCard, BY_DESK_PAGE, BY_PATIENT};
use crate::{Actor, Change, Result, ServiceError, Services};

/// The desk's page window stops at these addresses and never loads them (`.invalid` never resolves,
/// RFC 2606), so nothing about the page leaves for anywhere else.
pub const DESK_DONE_URL: &str = "https://clinicpay.invalid/card-page/done";
pub const DESK_BACK_URL: &str = "https://clinicpay.invalid/card-page/back";
/// How long the desk's window waits for a card on the page before it ends it. The page itself is made
/// with Stripe's default expiry (24 hours, by Stripe's clock): an `expires_at` from this computer's
/// clock would be refused by Stripe whenever the two clocks differ by more than a few minutes, and
/// then no card could be added at this desk. The desk ends the page itself instead.
pub const DESK_PAGE_TIME: Duration = Duration::minutes(35);
/// A claim older than this belongs to a finisher that died: another may take it.
const CLAIM_STALE: Duration = Duration::minutes(10);
/// A desk's page is its own until this long after it was opened; then the billing engine finishes it
/// (the desk closed or crashed with the page open).
const DESK_GRACE: Duration = Duration::minutes(40);

/// A page for the desk's window.
#[derive(Debug, Clone, Serialize)]
pub struct CardPage {
    pub id: i64,
    /// The gateway's page, to load in the window.
    pub url: String,
    /// The window stops when it reaches an address starting with one of these.
    pub done_url: String,
    pub back_url: String,
    pub expires_at: DateTime<Utc>,
}

/// What the desk typed before the page opens (the name and country staff enter for any card).
#[derive(Debug, Clone)]
pub struct CardPageDetails {
    pub cardholder_name: String,
    pub country: String,
    /// A payment with a new card rather than Add payment method.
    pub for_payment: bool,
}

/// How the desk's window ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageEnd {
    /// It reached the success address: the patient saved a card on it.
    ReachedDone,
    /// Back, the window closed, or its time ran out.
    Closed,
}

/// Where a page or link stands, in staff's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum CardLinkStatus {
    /// Waiting for the patient.
    Open,
    /// The card is being saved.
    Saving,
    /// The patient saved a card; it is on their profile.
    Completed,
    /// It takes no card any more.
    Expired,
    /// The patient saved a card the clinic could not keep (`outcome` says why).
    Failed,
}

impl CardLinkStatus {
    fn of(status: &str) -> CardLinkStatus {
        match status {
            "open" => CardLinkStatus::Open,
            "saving" => CardLinkStatus::Saving,
            "complete" => CardLinkStatus::Completed,
            "failed" => CardLinkStatus::Failed,
            _ => CardLinkStatus::Expired,
        }
    }
}

/// A secure card link, as the profile and `cards link` show it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct CardLinkView {
    #[cfg_attr(feature = "specta", specta(type = i32))]
    pub id: i64,
    pub patient_id: PatientId,
    pub status: CardLinkStatus,
    /// The gateway's id for the page (Stripe `cs_…`).
    pub session: String,
    /// The page's address while it is open (to read to a patient on the phone).
    pub url: Option<String>,
    pub sent_to: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
    pub card_id: Option<PaymentMethodId>,
    pub order_id: Option<OrderId>,
    pub outcome: Option<String>,
}

/// What a pass over open pages did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CardPageReport {
    /// Pages asked about at the gateway.
    pub checked: u32,
    /// Cards patients saved, now on their profiles.
    pub saved: u32,
    pub expired: u32,
    /// Cards saved on a page the clinic could not keep.
    pub failed: u32,
    /// Pages the gateway could not answer for: looked at again next pass.
    pub unreachable: u32,
    /// Recovery orders paid by a card saved through a link.
    pub recovery_paid: u32,
}

fn stripe_only(gateway: Gateway) -> ServiceError {
    ServiceError::Invalid(format!(
        "Secure card links and Stripe's card page are Stripe's: the clinic takes cards through {gateway}, which has no page of its own where a patient saves a card. Enter the card at the desk, in the card window."
    ))
}

/// Whether an error means "try again later" (nothing decided, the card not used), not "this card
/// cannot be kept". A payment whose outcome is unknown used the card: that is not one.
fn transient(e: &ServiceError) -> bool {
    matches!(
        e,
        ServiceError::GatewayUnavailable(_)
            | ServiceError::DatabaseUnavailable(_)
            | ServiceError::CredentialsMissing(_)
            | ServiceError::KeychainUnavailable(_)
    )
}

impl Services {
    /// Opens Stripe's card page for the desk's window: a page for the patient's Stripe customer, which
    /// the desk ends after 35 minutes. Nothing is saved until the window ends (`card_from_page`).
    pub async fn begin_card_page(
        &self,
        actor: &Actor,
        patient: PatientId,
        details: CardPageDetails,
    ) -> Result<CardPage> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        let kind = if details.for_payment {
            SetupKind::Payment
        } else {
            SetupKind::Desk
        };
        let row = self
            .open_page(
                Some(actor),
                patient,
                &settings,
                PageAsk {
                    kind,
                    success_url: format!("{DESK_DONE_URL}?session={{CHECKOUT_SESSION_ID}}"),
                    cancel_url: Some(DESK_BACK_URL.to_owned()),
                    order: None,
                    cardholder_name: Some(&details.cardholder_name),
                    country: Some(&details.country),
                },
            )
            .await?;
        Ok(CardPage {
            id: row.id,
            url: row.url.clone().unwrap_or_default(),
            done_url: DESK_DONE_URL.into(),
            back_url: DESK_BACK_URL.into(),
            expires_at: row.created_at + DESK_PAGE_TIME,
        })
    }

    /// The desk's window for page `id` ended as `end`: asks the gateway how the page ended (a window
    /// closed is the page ended there first, so no card can be typed on it afterwards), and when the
    /// patient saved a card, hands it to `use_card` (add it, or pay with it) and records what came of
    /// it. None: no card was saved on the page.
    pub async fn card_from_page<T, F, Fut>(
        &self,
        actor: &Actor,
        id: i64,
        end: PageEnd,
        use_card: F,
    ) -> Result<Option<T>>
    where
        F: FnOnce(AddCard) -> Fut,
        Fut: Future<Output = Result<(T, Option<PaymentMethodId>)>>,
    {
        actor.require(Permission::ManageCards)?;
        let row = {
            let mut r = self.store().reader().await?;
            repo::get(&mut r, id).await?
        }
        .filter(|r| r.kind != SetupKind::Link && r.created_by == Some(actor.id))
        .ok_or_else(|| {
            ServiceError::NotFound(
                "This card page was not opened by you at this desk: start again from Add payment method.".into(),
            )
        })?;
        // Already ended (the engine finished it, or this desk did): nothing more to save.
        if !matches!(row.status.as_str(), "open" | "saving") {
            return Ok(None);
        }
        let settings = self.load_settings().await?;
        let client = self
            .gateway_client(row.gateway, &settings, Some(row.patient_id))
            .await?;
        let asked = match end {
            PageEnd::ReachedDone => client.hosted_setup(&row.session_ref).await,
            PageEnd::Closed => client.end_hosted_setup(&row.session_ref).await,
        };
        let page = match asked {
            Ok(page) => page,
            // The row stays open: the billing engine asks again and finishes it.
            Err(e) if end == PageEnd::Closed => {
                eprintln!("ClinicPay: the card page {} could not be ended at {} ({e}); the billing engine looks at it again.", row.session_ref, row.gateway);
                return Ok(None);
            }
            Err(e) => {
                return Err(ServiceError::GatewayUnavailable(format!(
                    "The card was typed on {}'s page, but {} cannot be asked for it now ({e}). ClinicPay adds it to the patient's cards by itself within the hour once {} answers: do not enter it again.",
                    row.gateway, row.gateway, row.gateway
                )))
            }
        };
        match page.status {
            HostedSetupStatus::Open => Ok(None),
            HostedSetupStatus::Expired => {
                self.end_page(&row, "expired", None, "closed without a card", Some(actor))
                    .await?;
                Ok(None)
            }
            HostedSetupStatus::Complete => {
                let card = self.page_card(&row, &page)?;
                if !self.claim_page(&row).await? {
                    return Err(ServiceError::Conflict(
                        "The card from this page is already being saved: it shows in the patient's cards in a moment.".into(),
                    ));
                }
                if let Some(known) = self.already_saved(&row, &card.token).await? {
                    self.end_page(&row, "complete", Some(known), "saved", Some(actor))
                        .await?;
                    return Ok(None);
                }
                let token = card.token.clone();
                let used = use_card(card).await;
                // Kept here or not, whatever `use_card` said: a card the clinic does not keep does
                // not stay chargeable at the gateway either.
                let kept = self.already_saved(&row, &token).await?;
                match used {
                    Err(e) if transient(&e) => {
                        self.release_page(&row).await?;
                        Err(e)
                    }
                    Ok((answer, _)) => {
                        let what = if kept.is_some() {
                            "saved"
                        } else {
                            "used for a payment and not kept"
                        };
                        self.end_page(&row, "complete", kept, what, Some(actor))
                            .await?;
                        if kept.is_none() {
                            self.detach(&row, &token, &settings).await;
                        }
                        Ok(Some(answer))
                    }
                    Err(e) => {
                        let status = if kept.is_some() { "complete" } else { "failed" };
                        self.end_page(&row, status, kept, &e.to_string(), Some(actor))
                            .await?;
                        if kept.is_none() {
                            self.detach(&row, &token, &settings).await;
                        }
                        Err(e)
                    }
                }
            }
        }
    }

    /// Makes a secure card link for the patient (Stripe's page for their customer, for Stripe's 24 hours),
    /// for a recovery `order` when given, and emails it when `send`. An email that cannot go out
    /// ends the link at once: nothing is left that nobody has.
    pub async fn create_card_link(
        &self,
        actor: &Actor,
        patient: PatientId,
        order: Option<OrderId>,
        send: bool,
    ) -> Result<CardLinkView> {
        actor.require(Permission::ManageCards)?;
        let settings = self.load_settings().await?;
        if settings.active_gateway != Gateway::Stripe {
            return Err(stripe_only(settings.active_gateway));
        }
        let return_url = link_return_url(
            &settings,
            self.api_base(Gateway::Stripe, &settings).as_deref(),
        )?;
        let person = {
            let mut r = self.store().reader().await?;
            let person = self.require_patient(&mut r, patient).await?;
            if let Some(o) = order {
                let found = orders::order(&mut r, o).await?;
                if found.map(|f| f.patient_id) != Some(patient) {
                    return Err(ServiceError::NotFound(format!(
                        "Order {o} is not one of this patient's orders."
                    )));
                }
            }
            person
        };
        // What would stop the email is said before the link exists.
        let mailer = if send {
            let Some(mailer) = self.mailer(&settings).await? else {
                return Err(ServiceError::Invalid(
                    "No mail server is set up (smtp.host, smtp.from), so the link cannot be emailed: set one up in Settings, or make the link without sending it and give it to the patient.".into(),
                ));
            };
            crate::reminders::message_to(&settings, &person.name, &person.email, "-", "-")
                .map_err(|e| {
                    ServiceError::Invalid(format!(
                        "The link cannot be emailed: {e}. Correct the patient's email first."
                    ))
                })?;
            Some(mailer)
        } else {
            None
        };
        let row = self
            .open_page(
                Some(actor),
                patient,
                &settings,
                PageAsk {
                    kind: SetupKind::Link,
                    success_url: return_url,
                    cancel_url: None,
                    order,
                    cardholder_name: None,
                    country: None,
                },
            )
            .await?;
        if let Some(mailer) = mailer {
            let (template, _) = self.notice_template(NoticeStage::CardLink).await?;
            let (subject, body) = template.render(&NoticeValues {
                patient_name: person.name.clone(),
                amount: String::new(),
                card: String::new(),
                description: String::new(),
                update_link: row.url.clone().unwrap_or_default(),
                clinic: settings.clinic_name.clone(),
            });
            let sent = match crate::reminders::message_to(
                &settings,
                &person.name,
                &person.email,
                &subject,
                &body,
            ) {
                Ok(message) => mailer
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if let Err(e) = sent {
                // Withdrawn at Stripe when it can be asked; either way closed here (a page whose
                // withdrawal did not reach Stripe takes its card nowhere: nothing polls it).
                if let Ok(client) = self
                    .gateway_client(row.gateway, &settings, Some(patient))
                    .await
                {
                    let _ = client.end_hosted_setup(&row.session_ref).await;
                }
                self.end_page(
                    &row,
                    "expired",
                    None,
                    "the email could not be sent",
                    Some(actor),
                )
                .await?;
                return Err(ServiceError::GatewayUnavailable(format!(
                    "The mail server did not take the email ({e}), so the link was withdrawn: nothing was sent. Check the mail server, then send a new link."
                )));
            }
            let now = self.now();
            let mut tx = self.store().begin().await?;
            repo::mark_sent(&mut tx, row.id, &person.email, now).await?;
            Change::new(Some(actor), now, "card_link.sent", "card_link", row.id)
                .patient(patient)
                .after(serde_json::json!({ "to": person.email, "session": row.session_ref }))
                .record(&mut tx)
                .await?;
            tx.commit().await?;
        }
        let mut r = self.store().reader().await?;
        let row = repo::get(&mut r, row.id)
            .await?
            .ok_or_else(|| ServiceError::Internal("a card link vanished".into()))?;
        self.link_view(&mut r, row).await
    }

    /// The secure card links sent for a patient, newest first.
    pub async fn card_links(&self, actor: &Actor, patient: PatientId) -> Result<Vec<CardLinkView>> {
        actor.require(Permission::ViewPatients)?;
        let mut r = self.store().reader().await?;
        self.links_for(&mut r, patient, actor).await
    }

    /// The patient's links as `actor` may see them: an open link's address lets whoever holds it put
    /// a card on the patient's account, so only someone who may manage cards sees it.
    pub(crate) async fn links_for(
        &self,
        r: &mut Reader,
        patient: PatientId,
        actor: &Actor,
    ) -> Result<Vec<CardLinkView>> {
        let addresses = actor.role.allows(Permission::ManageCards);
        let mut out = Vec::new();
        for row in repo::for_patient(r, patient, 50).await? {
            if row.kind == SetupKind::Link {
                let mut view = self.link_view(r, row).await?;
                if !addresses {
                    view.url = None;
                }
                out.push(view);
            }
        }
        Ok(out)
    }

    /// One pass over open pages (the billing engine runs it): a link the patient completed is saved
    /// as a card and the patient's recovery orders are retried with it; an expired one is closed; a
    /// desk's page nobody finished is finished here once the desk's time is over.
    pub(crate) async fn poll_card_pages(&self) -> Result<CardPageReport> {
        let mut report = CardPageReport::default();
        let now = self.now();
        let rows = {
            let mut r = self.store().reader().await?;
            repo::unfinished(&mut r, now - CLAIM_STALE, 200).await?
        };
        if rows.is_empty() {
            return Ok(report);
        }
        let settings = self.load_settings().await?;
        for row in rows {
            let desks = row.kind != SetupKind::Link;
            if desks && now < row.created_at + DESK_GRACE {
                continue;
            }
            report.checked += 1;
            // Stripe forgets nothing it made, but a page whose time is long past takes no card: it is
            // closed here without asking (keys removed, a test session after going live).
            if now > row.expires_at + CLAIM_STALE && row.status == "open" {
                if self
                    .end_page(&row, "expired", None, "its time ran out", None)
                    .await?
                {
                    report.expired += 1;
                }
                continue;
            }
            let page = match self
                .gateway_client(row.gateway, &settings, Some(row.patient_id))
                .await
            {
                Ok(client) => match client.hosted_setup(&row.session_ref).await {
                    Ok(page) => (client, page),
                    // The gateway has no such page (a test session after the clinic went live).
                    Err(GatewayError::Rejected { code, .. })
                        if code == "resource_missing" || code == clinicpay_gateways::NOT_FOUND =>
                    {
                        if self
                            .end_page(&row, "expired", None, "the gateway no longer has it", None)
                            .await?
                        {
                            report.expired += 1;
                        }
                        continue;
                    }
                    Err(_) => {
                        report.unreachable += 1;
                        continue;
                    }
                },
                Err(_) => {
                    report.unreachable += 1;
                    continue;
                }
            };
            let (client, page) = page;
            // The clinic moved to another gateway: an open page there no longer takes a card.
            if page.status == HostedSetupStatus::Open && row.gateway != settings.active_gateway {
                if let Ok(ended) = client.end_hosted_setup(&row.session_ref).await {
                    if ended.status == HostedSetupStatus::Expired
                        && self
                            .end_page(
                                &row,
                                "expired",
                                None,
                                &format!(
                                    "withdrawn: the clinic now takes cards through {}",
                                    settings.active_gateway
                                ),
                                None,
                            )
                            .await?
                    {
                        report.expired += 1;
                    }
                }
                continue;
            }
            match page.status {
                // A desk's page nobody is watching any more takes no card: ended at the gateway.
                HostedSetupStatus::Open if desks => {
                    if let Ok(ended) = client.end_hosted_setup(&row.session_ref).await {
                        if ended.status == HostedSetupStatus::Expired
                            && self
                                .end_page(&row, "expired", None, "closed without a card", None)
                                .await?
                        {
                            report.expired += 1;
                        }
                    }
                }
                HostedSetupStatus::Open => {}
                HostedSetupStatus::Expired => {
                    let why = match row.kind {
                        SetupKind::Link => "the link expired without a card",
                        _ => "closed without a card",
                    };
                    if self.end_page(&row, "expired", None, why, None).await? {
                        report.expired += 1;
                    }
                }
                HostedSetupStatus::Complete => {
                    let Ok(card) = self.page_card(&row, &page) else {
                        report.unreachable += 1;
                        continue;
                    };
                    if !self.claim_page(&row).await? {
                        continue;
                    }
                    if let Some(known) = self.already_saved(&row, &card.token).await? {
                        self.end_page(&row, "complete", Some(known), "saved", None)
                            .await?;
                        continue;
                    }
                    if row.kind == SetupKind::Payment {
                        // The payment it was typed for never happened: the card is not kept.
                        let _ = client.delete_card(&card.token).await;
                        self.end_page(&row, "failed", None, "the payment at the desk did not finish, so the card typed for it was not kept", None).await?;
                        report.failed += 1;
                        continue;
                    }
                    // A desk whose person re-entered the same card meanwhile (the page's own save never
                    // came through): the card the patient has is not saved twice.
                    if let Some(same) = self.same_card_saved(&row, &card.token, &*client).await? {
                        let _ = client.delete_card(&card.token).await;
                        self.end_page(
                            &row,
                            "complete",
                            Some(same),
                            "the same card was saved at the desk meanwhile",
                            None,
                        )
                        .await?;
                        continue;
                    }
                    let token = card.token.clone();
                    let by = match row.kind {
                        SetupKind::Link => BY_PATIENT,
                        _ => BY_DESK_PAGE,
                    };
                    match self.add_card_by(None, by, row.patient_id, card).await {
                        Ok(change) => {
                            self.end_page(&row, "complete", Some(change.card.id), "saved", None)
                                .await?;
                            report.saved += 1;
                            report.recovery_paid += self
                                .retry_recovery_for_patient(row.patient_id, Some(change.card.id))
                                .await
                                .unwrap_or(0);
                        }
                        Err(e) if transient(&e) => {
                            self.release_page(&row).await?;
                            report.unreachable += 1;
                        }
                        Err(e) => {
                            self.end_page(&row, "failed", None, &e.to_string(), None)
                                .await?;
                            // Not kept here, so not kept there (the clinic moved gateways, …).
                            if self.already_saved(&row, &token).await?.is_none() {
                                let _ = client.delete_card(&token).await;
                            }
                            report.failed += 1;
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Makes the page at the gateway and its row here (with the gateway customer it was made for,
    /// remembered when new), in the activity log.
    async fn open_page(
        &self,
        actor: Option<&Actor>,
        patient: PatientId,
        settings: &OrganizationSettings,
        ask: PageAsk<'_>,
    ) -> Result<CardSetup> {
        let gateway = settings.active_gateway;
        if gateway != Gateway::Stripe {
            return Err(stripe_only(gateway));
        }
        let (person, customer) = {
            let mut r = self.store().reader().await?;
            let person = self.require_patient(&mut r, patient).await?;
            let customer = patients::gateway_customer(&mut r, patient, gateway).await?;
            (person, customer)
        };
        let client = self
            .gateway_client(gateway, settings, Some(patient))
            .await?;
        let now = self.now();
        let page = client
            .begin_hosted_setup(&HostedSetupRequest {
                holder: CardHolder {
                    name: person.name.clone(),
                    email: person.email.clone(),
                    patient_ref: patient.0.to_string(),
                    customer: customer.clone(),
                    country: None,
                },
                success_url: ask.success_url,
                cancel_url: ask.cancel_url,
                expires_at: None,
                reference: format!("p{}-{:016x}", patient.0, rand::random::<u64>()),
            })
            .await
            .map_err(ServiceError::from)?;
        let mut tx = self.store().begin().await?;
        if let Some(new) = page
            .customer
            .as_ref()
            .filter(|c| Some(*c) != customer.as_ref())
        {
            Self::remember_gateway_customer(&mut tx, actor, BY_EMAILS, patient, gateway, new, now)
                .await?;
        }
        let row = repo::insert(
            &mut tx,
            &NewCardSetup {
                patient_id: patient,
                gateway,
                kind: ask.kind,
                session_ref: &page.session,
                url: page.url.as_deref(),
                order_id: ask.order,
                expires_at: page.expires_at,
                created_by: actor.map(|a| a.id),
                cardholder_name: ask.cardholder_name,
                country: ask.country,
            },
            now,
        )
        .await?;
        let action = match ask.kind {
            SetupKind::Link => "card_link.created",
            _ => "card_page.opened",
        };
        Change::new(actor, now, action, "card_link", row.id)
            .unless_staff(actor, BY_EMAILS)
            .patient(patient)
            .after(serde_json::json!({
                "gateway": gateway.as_str(),
                "session": page.session,
                "expires_at": page.expires_at,
                "order": ask.order,
            }))
            .record(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The card a completed page holds, as `add_card` takes it.
    fn page_card(&self, row: &CardSetup, page: &HostedSetup) -> Result<AddCard> {
        let token = page.card_token.clone().ok_or_else(|| {
            ServiceError::GatewayUnavailable(format!(
                "{} says the page {} is complete but names no card.",
                row.gateway, row.session_ref
            ))
        })?;
        Ok(AddCard {
            gateway: row.gateway,
            token,
            cardholder_name: row.cardholder_name.clone(),
            country: row.country.clone(),
            nickname: None,
        })
    }

    async fn claim_page(&self, row: &CardSetup) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let won = repo::claim(&mut tx, row.id, now, now - CLAIM_STALE).await?;
        tx.commit().await?;
        Ok(won)
    }

    async fn release_page(&self, row: &CardSetup) -> Result<()> {
        let mut tx = self.store().begin().await?;
        repo::release(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok(())
    }

    /// A card already recorded under this reference: a finisher saved it and died before it said so.
    async fn already_saved(&self, row: &CardSetup, token: &str) -> Result<Option<PaymentMethodId>> {
        let mut r = self.store().reader().await?;
        Ok(payment_methods::active_by_token(&mut r, row.gateway, token)
            .await?
            .filter(|c| c.patient_id == row.patient_id)
            .map(|c| c.id))
    }

    /// Takes a page's card off the gateway (the clinic does not keep it); a gateway that cannot be
    /// asked now is said in the log, the card staying there unused.
    async fn detach(&self, row: &CardSetup, token: &str, settings: &OrganizationSettings) {
        let detached = match self
            .gateway_client(row.gateway, settings, Some(row.patient_id))
            .await
        {
            Ok(client) => client.delete_card(token).await.map_err(ServiceError::from),
            Err(e) => Err(e),
        };
        if let Err(e) = detached {
            eprintln!(
                "ClinicPay: the card typed on page {} was not kept here and could not be taken off {} ({e}).",
                row.session_ref, row.gateway
            );
        }
    }

    /// A card of the patient's already saved here that is the same card as the page's (same
    /// fingerprint, gateway and expiry), if any.
    async fn same_card_saved(
        &self,
        row: &CardSetup,
        token: &str,
        client: &dyn clinicpay_gateways::PaymentGateway,
    ) -> Result<Option<PaymentMethodId>> {
        let Ok(details) = client.card_details(token).await else {
            return Ok(None);
        };
        let Some(fingerprint) = details.fingerprint else {
            return Ok(None);
        };
        let mut r = self.store().reader().await?;
        Ok(payment_methods::active_for_patient(&mut r, row.patient_id)
            .await?
            .into_iter()
            .find(|c| {
                c.gateway == row.gateway
                    && c.fingerprint.as_deref() == Some(fingerprint.as_str())
                    && (c.expiry.month, c.expiry.year) == (details.exp_month, details.exp_year)
            })
            .map(|c| c.id))
    }

    /// Ends the page's row (once) with the activity entry; answers whether this call ended it.
    async fn end_page(
        &self,
        row: &CardSetup,
        status: &str,
        card: Option<PaymentMethodId>,
        outcome: &str,
        actor: Option<&Actor>,
    ) -> Result<bool> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let ended = repo::finish(&mut tx, row.id, status, card, Some(outcome), now).await?;
        if ended {
            let what = match row.kind {
                SetupKind::Link => "card_link",
                _ => "card_page",
            };
            let by = match (status, row.kind) {
                ("complete", SetupKind::Link) => BY_PATIENT,
                ("complete", _) => BY_DESK_PAGE,
                _ => "ClinicPay's billing engine",
            };
            Change::new(actor, now, &format!("{what}.{status}"), "card_link", row.id)
                .unless_staff(actor, by)
                .patient(row.patient_id)
                .after(serde_json::json!({
                    "session": row.session_ref,
                    "card": card,
                    "outcome": outcome,
                }))
                .record(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(ended)
    }

    async fn link_view(&self, r: &mut Reader, row: CardSetup) -> Result<CardLinkView> {
        let created_by = match row.created_by {
            Some(id) => staff::by_id(r, id).await?.map(|s| s.display_name),
            None => None,
        };
        Ok(CardLinkView {
            id: row.id,
            patient_id: row.patient_id,
            status: CardLinkStatus::of(&row.status),
            session: row.session_ref,
            url: row.url,
            sent_to: row.sent_to,
            sent_at: row.sent_at,
            expires_at: row.expires_at,
            created_at: row.created_at,
            created_by,
            finished_at: row.finished_at,
            card_id: row.payment_method_id,
            order_id: row.order_id,
            outcome: row.outcome,
        })
    }
}

impl Services {
    /// The settings an email to a patient is written with. With `reminders.update-link` set to
    /// `secure-card-link` and the clinic on Stripe, its update link is a fresh secure card link for
    /// the patient (for `order` when given), recorded as sent to `to`; when none can be made (Stripe
    /// cannot be reached), the email says to call or visit the clinic, as with no link set.
    pub(crate) async fn settings_for_email(
        &self,
        settings: &OrganizationSettings,
        patient: PatientId,
        order: Option<OrderId>,
        to: &str,
    ) -> OrganizationSettings {
        let mut s = settings.clone();
        if !s.reminders.secure_card_link || s.active_gateway != Gateway::Stripe {
            return s;
        }
        let made = async {
            // A link of this patient's (for this order) still open for most of a day is sent again
            // rather than a new one made each email.
            let reusable = {
                let mut r = self.store().reader().await?;
                let now = self.now();
                repo::for_patient(&mut r, patient, 20)
                    .await?
                    .into_iter()
                    .find(|l| {
                        l.kind == SetupKind::Link
                            && l.status == "open"
                            && l.order_id == order
                            && l.url.is_some()
                            && l.expires_at > now + Duration::hours(12)
                    })
            };
            if let Some(link) = reusable {
                return Ok::<_, ServiceError>(link.url);
            }
            let return_url = link_return_url(
                settings,
                self.api_base(Gateway::Stripe, settings).as_deref(),
            )?;
            let row = self
                .open_page(
                    None,
                    patient,
                    settings,
                    PageAsk {
                        kind: SetupKind::Link,
                        success_url: return_url,
                        cancel_url: None,
                        order,
                        cardholder_name: None,
                        country: None,
                    },
                )
                .await?;
            let mut tx = self.store().begin().await?;
            repo::mark_sent(&mut tx, row.id, to, self.now()).await?;
            tx.commit().await?;
            Ok::<_, ServiceError>(row.url)
        }
        .await;
        match made {
            Ok(Some(url)) => s.reminders.update_link = Some(url),
            Ok(None) => {}
            Err(e) => eprintln!(
                "ClinicPay: no secure card link could be made for patient {patient}'s email ({e}); it asks them to call or visit instead."
            ),
        }
        s
    }
}

/// Who made a link that went out in an email nobody at the desk wrote.
const BY_EMAILS: &str = "ClinicPay, for an email to the patient";

/// What kind of page to make.
struct PageAsk<'a> {
    kind: SetupKind,
    success_url: String,
    cancel_url: Option<String>,
    order: Option<OrderId>,
    cardholder_name: Option<&'a str>,
    country: Option<&'a str>,
}

/// Where the patient's browser goes after saving a card through a link: the clinic's page, or, for a
/// clinic on the built-in simulator (an address on this computer, never a live gateway), its own.
fn link_return_url(settings: &OrganizationSettings, stripe_base: Option<&str>) -> Result<String> {
    if let Some(url) = &settings.card_link_return_url {
        return Ok(url.clone());
    }
    match stripe_base {
        Some(base) if base.starts_with("http://") => {
            Ok(format!("{}/checkout/thanks", base.trim_end_matches('/')))
        }
        _ => Err(ServiceError::Invalid(
            "Stripe's page needs somewhere to send the patient once their card is saved: IT sets card-link.return-url to a page of the clinic's website (https://…), then send the link again.".into(),
        )),
    }
}
