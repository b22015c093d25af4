//! The window's commands: each reads the state, calls one service, and maps the error.
//! Long because every command the window calls is here, each a few lines, so `tauri-specta` collects
//! them in one list and a reader sees the whole surface at once.

use clinicpay_domain::{
    Gateway, InvoiceId, OrderId, Patient, PatientId, PatientType, PaymentId, PaymentMethodId,
    Permission, RecoveryStatus, Role,
};
use clinicpay_services::billing::{
    CheckoutAttemptStatus, CheckoutSource, PaymentResult, RefundResult,
};
use clinicpay_services::cards::{AddCard, CardChange};
use clinicpay_services::clinic::ClinicInfo;
use clinicpay_services::desk::{CardForm, Check, PatientAccount, SavedReport};
use clinicpay_services::desk_inventory::DeskView;
use clinicpay_services::diagnostics::{DiagnosticsRequest, DiagnosticsWritten};
use clinicpay_services::engine::EngineStatus;
use clinicpay_services::gateway_switch::GatewayReadiness;
use clinicpay_services::patients::PatientProfile;
use clinicpay_services::reconcile::{Reconciliation, ReconciliationVerdict};
use clinicpay_services::recovery::SweepProgress;
use clinicpay_services::reminders::{
    ExpiringCards, ExpiringCursor, ExpiringFilter, ReminderReport, DASHBOARD_PAGE,
};
use clinicpay_services::reports::{ExportedReport, GatewayReport};
use clinicpay_services::settings::{SettingChanged, SettingsView};
use clinicpay_services::setup::{DatabaseChosen, SetupCheck, SetupDatabase, SetupDraft};
use clinicpay_services::staff::StaffView;
use clinicpay_services::Actor;
use clinicpay_store::invoices::Invoice;
use clinicpay_store::orders::Order;
use clinicpay_store::payments::Payment;
use clinicpay_store::processor_log::LogEntry;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::card_window::{CardEntry, CardFormPage};
use crate::error::UiError;
use crate::state::AppState;
use crate::updates::{UpdateStatus, Updates};
use clinicpay_domain::card_entry::{card_entry_way, CardEntryWay};
use clinicpay_services::card_pages::{CardPageDetails, PageEnd};

/// The person signed in at this desk.
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct Session {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// "Front desk", "Billing manager", "IT".
    pub role_label: String,
    /// What this person may do: the window offers nothing else (and the services refuse it anyway).
    pub permissions: Vec<Permission>,
}

impl From<&Actor> for Session {
    fn from(a: &Actor) -> Self {
        Session {
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            role: a.role,
            role_label: a.role.display_name().into(),
            permissions: Permission::ALL
                .into_iter()
                .filter(|p| a.role.allows(*p))
                .collect(),
        }
    }
}

#[tauri::command]
#[specta::specta]
pub async fn clinic_info(state: State<'_, AppState>) -> Result<ClinicInfo, UiError> {
    Ok(state.services()?.clinic_info().await?)
}

#[tauri::command]
#[specta::specta]
pub async fn sign_in(
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
    username: String,
    password: String,
) -> Result<Session, UiError> {
    // A card being entered for the person before belongs to their session, not the next one's.
    cards.cancel();
    let actor = state.open_session(&username, &password).await?;
    Ok(Session::from(&actor))
}

#[tauri::command]
#[specta::specta]
pub async fn sign_out(
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
) -> Result<(), UiError> {
    cards.cancel();
    state.close_session("signed out").await
}

/// A person pressed a key or clicked at this desk (the window sends it at most every 20 seconds): the
/// idle lock, which the services enforce, starts again. The window's own polling does not count.
#[tauri::command]
#[specta::specta]
pub async fn desk_activity(state: State<'_, AppState>) -> Result<(), UiError> {
    state.activity().await
}

#[tauri::command]
#[specta::specta]
pub async fn current_session(state: State<'_, AppState>) -> Result<Option<Session>, UiError> {
    if state.session().await.is_none() {
        return Ok(None);
    }
    // Through the services' checks: a session left idle past the lock is over.
    match state.signed_in().await {
        Ok((_, actor)) => Ok(Some(Session::from(&actor))),
        Err(e) if e.code == clinicpay_services::ErrorCode::NotSignedIn => Ok(None),
        Err(e) => Err(e),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn search_patients(
    state: State<'_, AppState>,
    query: String,
) -> Result<Vec<Patient>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.search_patients(&actor, &query).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn patient_profile(
    state: State<'_, AppState>,
    patient_id: PatientId,
) -> Result<PatientProfile, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.patient_profile(&actor, patient_id).await?)
}

// ---------------------------------------------------------------- cards

/// What the desk window knows of the card form: which gateway, and where the card is typed at this
/// desk (the card window, or Stripe's own page in a window of its own).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct DeskCardForm {
    pub gateway: Gateway,
    pub way: CardEntryWay,
    pub training: bool,
}

#[tauri::command]
#[specta::specta]
pub async fn card_form<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<DeskCardForm, UiError> {
    let (s, actor) = state.signed_in().await?;
    let form = s.card_form(&actor).await?;
    Ok(DeskCardForm {
        gateway: form.gateway,
        way: entry_way(&app, &s, &form),
        training: form.training,
    })
}

/// Where this desk has a card typed for `form`: decided from the desk window's origin as the
/// gateways' scripts decide (`clinicpay_domain::card_entry`), and IT's managed setting.
fn entry_way<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    s: &clinicpay_services::Services,
    form: &CardForm,
) -> CardEntryWay {
    use tauri::Manager;
    let origin = app
        .get_webview_window("main")
        .and_then(|w| w.url().ok())
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    card_entry_way(
        form.gateway,
        &origin,
        s.managed()
            .config
            .desk
            .stripe_card_entry
            .unwrap_or_default(),
        Some(&form.public_key),
    )
}

/// What the desk window sends with a new card: everything but the card itself.
#[derive(Debug, Clone, Deserialize, specta::Type)]
pub struct NewCardDetails {
    pub cardholder_name: Option<String>,
    /// The billing country (two letters), required on both gateways' forms.
    pub country: Option<String>,
    pub nickname: Option<String>,
}

/// Add payment method: opens the card window (the gateway's hosted fields, nothing else of ClinicPay),
/// waits for the token it hands over, and saves the card. None: the card window was closed without a
/// card.
#[tauri::command]
#[specta::specta]
pub async fn add_card_through_form<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
    patient_id: PatientId,
    details: NewCardDetails,
) -> Result<Option<CardChange>, UiError> {
    if let Some(page) = card_page(&app, &state, &cards, patient_id, &details, false).await? {
        let nickname = details.nickname.clone();
        return finish_card_page(&state, page, move |s, actor, mut card| async move {
            card.nickname = nickname;
            let saved = s.add_card(&actor, patient_id, card).await?;
            let id = saved.card.id;
            Ok((saved, Some(id)))
        })
        .await;
    }
    let Some((s, actor, card)) = enter_card(&app, &state, &cards, patient_id, details).await?
    else {
        return Ok(None);
    };
    Ok(Some(s.add_card(&actor, patient_id, card).await?))
}

/// A card page opened at this desk and how its window ended.
struct OpenedPage {
    id: i64,
    by: clinicpay_services::Actor,
    end: PageEnd,
    for_payment: bool,
    patient: PatientId,
}

/// Where this desk types cards on the gateway's own page: opens Stripe's page for the patient in its
/// window and waits until it ends (success, Back, closed, or its time ran out). None: this desk types
/// cards in the card window instead.
async fn card_page<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    state: &State<'_, AppState>,
    cards: &State<'_, CardEntry>,
    patient_id: PatientId,
    details: &NewCardDetails,
    for_payment: bool,
) -> Result<Option<OpenedPage>, UiError> {
    let (s, actor) = state.signed_in().await?;
    let form = s.card_form_for(&actor, patient_id).await?;
    if entry_way(app, &s, &form) != CardEntryWay::GatewayPage {
        return Ok(None);
    }
    let (name, country) = clinicpay_services::Services::required_card_details(
        details.cardholder_name.as_deref(),
        details.country.as_deref(),
    )?;
    let page = s
        .begin_card_page(
            &actor,
            patient_id,
            CardPageDetails {
                cardholder_name: name,
                country,
                for_payment,
            },
        )
        .await?;
    cards.cancel();
    let ended = cards.pages.open(app, &page, state.simulator_origin())?;
    let left = (page.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    // Typing on Stripe's page is someone at the desk, though the desk window sees no key: the desk
    // does not lock on them meanwhile.
    let waited = async {
        let mut ended = ended;
        let mut ping = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tokio::select! {
                end = &mut ended => return end,
                _ = ping.tick() => {
                    let _ = state.activity().await;
                }
            }
        }
    };
    let end = match tokio::time::timeout(left, waited).await {
        Ok(Ok(end)) => end,
        // Its time ran out, or the window went without a word: ended, and asked at Stripe.
        _ => {
            cards.pages.cancel();
            PageEnd::Closed
        }
    };
    Ok(Some(OpenedPage {
        id: page.id,
        by: actor,
        end,
        for_payment,
        patient: patient_id,
    }))
}

/// Asks how the page ended and, when a card was saved on it, uses it (saves it, or pays with it) for
/// the person who opened it. If the desk locked or someone else signed in meanwhile, the page is still
/// finished for that person (a card the patient typed is not left at Stripe): a card is saved to the
/// patient's profile, but no payment is taken that nobody at the desk sees, and the window is told
/// nothing.
async fn finish_card_page<T, F, Fut>(
    state: &State<'_, AppState>,
    page: OpenedPage,
    use_card: F,
) -> Result<Option<T>, UiError>
where
    F: FnOnce(clinicpay_services::Services, clinicpay_services::Actor, AddCard) -> Fut,
    Fut: std::future::Future<
        Output = Result<(T, Option<PaymentMethodId>), clinicpay_services::ServiceError>,
    >,
{
    let here = state
        .signed_in()
        .await
        .ok()
        .filter(|(_, a)| a.id == page.by.id);
    let Some((s, actor)) = here else {
        let s = state.services()?;
        let by = page.by.clone();
        let (using, patient_of) = (s.clone(), by.clone());
        let (for_payment, patient) = (page.for_payment, page.patient);
        let _ = s
            .card_from_page(&by, page.id, page.end, move |card| async move {
                if for_payment {
                    return Err(clinicpay_services::ServiceError::Conflict(
                        "The desk locked before the payment was taken: nothing was charged, and the card typed for it was not kept.".into(),
                    ));
                }
                let saved = using.add_card(&patient_of, patient, card).await?;
                let id = saved.card.id;
                Ok(((), Some(id)))
            })
            .await;
        return Ok(None);
    };
    let (using, by) = (s.clone(), actor.clone());
    Ok(s.card_from_page(&actor, page.id, page.end, move |card| {
        use_card(using, by, card)
    })
    .await?)
}

/// Opens the card window for a card of `patient` and waits for its token: the card as the services
/// take it, with who asked (asked again once the card is in: the desk may have locked meanwhile, and
/// the card goes only on the record of the person who asked for it). None: closed without a card.
async fn enter_card<R: tauri::Runtime>(
    app: &tauri::AppHandle<R>,
    state: &State<'_, AppState>,
    cards: &State<'_, CardEntry>,
    patient_id: PatientId,
    details: NewCardDetails,
) -> Result<
    Option<(
        clinicpay_services::Services,
        clinicpay_services::Actor,
        AddCard,
    )>,
    UiError,
> {
    let (s, actor) = state.signed_in().await?;
    let form = s.card_form_for(&actor, patient_id).await?;
    // Both required on either gateway's form, and checked before the card window opens.
    let (name, country) = clinicpay_services::Services::required_card_details(
        details.cardholder_name.as_deref(),
        details.country.as_deref(),
    )?;
    let page = CardFormPage {
        gateway: form.gateway,
        script_url: form.script_url,
        public_key: form.public_key,
        training: form.training,
        cardholder_name: Some(name.clone()),
        country: Some(country.clone()),
    };
    let Ok(token) = cards.open(app, page, state.simulator_origin())?.await else {
        return Ok(None);
    };
    let started_by = actor.id;
    let (s, actor) = state.signed_in().await?;
    if actor.id != started_by {
        return Ok(None);
    }
    let card = AddCard {
        gateway: form.gateway,
        token,
        cardholder_name: Some(name),
        country: Some(country),
        nickname: details.nickname,
    };
    Ok(Some((s, actor, card)))
}

/// Take a payment with a new card (document 003: checkout "can use a new tokenized card"): the card is
/// typed in the card window, charged once, and kept for later only when `save`. The attempt key makes
/// a second press charge the same invoice, never a second one. None: the card window was closed.
// Three of the arguments are Tauri's handles (the app, its state, the card window's), not the window's.
#[allow(clippy::too_many_arguments)]
#[tauri::command]
#[specta::specta]
pub async fn checkout_with_new_card<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
    patient_id: PatientId,
    amount: String,
    details: NewCardDetails,
    save: bool,
    attempt: String,
) -> Result<Option<PaymentResult>, UiError> {
    let (s, _) = state.signed_in().await?;
    // A wrong amount is said before anyone types a card.
    let amount = s.parse_amount(&amount).await?;
    if let Some(page) = card_page(&app, &state, &cards, patient_id, &details, true).await? {
        let nickname = details.nickname.clone();
        return finish_card_page(&state, page, move |s, actor, mut card| async move {
            card.nickname = nickname;
            let paid = s
                .checkout_attempt(
                    &actor,
                    patient_id,
                    amount,
                    CheckoutSource::NewCard { card, save },
                    Some(&attempt),
                )
                .await?;
            Ok((paid, None))
        })
        .await;
    }
    let Some((s, actor, card)) = enter_card(&app, &state, &cards, patient_id, details).await?
    else {
        return Ok(None);
    };
    Ok(Some(
        s.checkout_attempt(
            &actor,
            patient_id,
            amount,
            CheckoutSource::NewCard { card, save },
            Some(&attempt),
        )
        .await?,
    ))
}

/// The card window: which hosted fields to load. Only the window opened for the card being entered.
#[tauri::command]
#[specta::specta]
pub async fn card_form_config<R: tauri::Runtime>(
    window: tauri::WebviewWindow<R>,
    cards: State<'_, CardEntry>,
) -> Result<CardFormPage, UiError> {
    cards.page(window.label())
}

/// The card window's one action: hand over the token its gateway gave for the typed card.
#[tauri::command]
#[specta::specta]
pub async fn hand_over_card_token<R: tauri::Runtime>(
    window: tauri::WebviewWindow<R>,
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
    token: String,
) -> Result<(), UiError> {
    cards.hand_over(window.label(), token.trim())?;
    // Typing a card is a person at the desk, though the desk window saw no key.
    let _ = state.activity().await;
    Ok(())
}

/// Closes the card window without a card: from the card window, only its own entry.
#[tauri::command]
#[specta::specta]
pub async fn cancel_card_entry<R: tauri::Runtime>(
    window: tauri::WebviewWindow<R>,
    cards: State<'_, CardEntry>,
) -> Result<(), UiError> {
    if window.label().starts_with(crate::card_window::LABEL_PREFIX) {
        cards.cancel_own(window.label());
    } else {
        cards.cancel();
    }
    Ok(())
}

#[tauri::command]
#[specta::specta]
pub async fn set_default_card(
    state: State<'_, AppState>,
    card_id: PaymentMethodId,
) -> Result<CardChange, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.set_default_card(&actor, card_id).await?)
}

/// ⋮ Verify: a zero-amount check of the card at its gateway.
#[tauri::command]
#[specta::specta]
pub async fn verify_card(
    state: State<'_, AppState>,
    card_id: PaymentMethodId,
) -> Result<clinicpay_services::card_verify::CardVerified, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.verify_card(&actor, card_id).await?)
}

/// "Send a secure card link": Stripe's page for the patient, for 24 hours, emailed when `send` (else
/// only made, for staff to give the patient), for a recovery order when given.
#[tauri::command]
#[specta::specta]
pub async fn send_card_link(
    state: State<'_, AppState>,
    patient_id: PatientId,
    order_id: Option<OrderId>,
    send: bool,
) -> Result<clinicpay_services::card_pages::CardLinkView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.create_card_link(&actor, patient_id, order_id, send)
        .await?)
}

/// What a card pays, for the delete dialog to name before anyone confirms.
#[tauri::command]
#[specta::specta]
pub async fn card_dependents(
    state: State<'_, AppState>,
    card_id: PaymentMethodId,
) -> Result<clinicpay_services::card_dependents::CardDependents, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.card_dependents(&actor, card_id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_card(
    state: State<'_, AppState>,
    card_id: PaymentMethodId,
    confirm_last: bool,
) -> Result<CardChange, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.delete_card(&actor, card_id, confirm_last).await?)
}

// ---------------------------------------------------------------- money

#[tauri::command]
#[specta::specta]
pub async fn patient_account(
    state: State<'_, AppState>,
    patient_id: PatientId,
) -> Result<PatientAccount, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.patient_account(&actor, patient_id).await?)
}

/// An invoice for an amount typed by staff ("80", "$1,234.50").
#[tauri::command]
#[specta::specta]
pub async fn create_invoice(
    state: State<'_, AppState>,
    patient_id: PatientId,
    amount: String,
    description: String,
) -> Result<Invoice, UiError> {
    let (s, actor) = state.signed_in().await?;
    let amount = s.parse_amount(&amount).await?;
    Ok(s.create_invoice(&actor, patient_id, amount, &description)
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn pay_invoice(
    state: State<'_, AppState>,
    invoice_id: InvoiceId,
    card_id: Option<PaymentMethodId>,
) -> Result<PaymentResult, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.pay_invoice(&actor, invoice_id, card_id).await?)
}

/// Takes a payment now with one of the patient's saved cards. `attempt` names the dialog's attempt:
/// pressed again, it answers from the first press's invoice instead of charging a second time.
#[tauri::command]
#[specta::specta]
pub async fn checkout(
    state: State<'_, AppState>,
    patient_id: PatientId,
    amount: String,
    card_id: PaymentMethodId,
    attempt: String,
) -> Result<PaymentResult, UiError> {
    let (s, actor) = state.signed_in().await?;
    let amount = s.parse_amount(&amount).await?;
    Ok(s.checkout_attempt(
        &actor,
        patient_id,
        amount,
        CheckoutSource::SavedCard(card_id),
        Some(&attempt),
    )
    .await?)
}

/// Where the dialog's checkout attempt stands (asked while it shows "checking…"); never charges.
#[tauri::command]
#[specta::specta]
pub async fn checkout_status(
    state: State<'_, AppState>,
    attempt: String,
) -> Result<CheckoutAttemptStatus, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.checkout_status(&actor, &attempt).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn retry_order(
    state: State<'_, AppState>,
    order_id: OrderId,
    gateway: Option<Gateway>,
) -> Result<PaymentResult, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.retry_order(&actor, order_id, gateway).await?)
}

/// Refunds what is left of a payment, or the amount typed.
#[tauri::command]
#[specta::specta]
pub async fn refund_payment(
    state: State<'_, AppState>,
    payment_id: PaymentId,
    amount: Option<String>,
) -> Result<RefundResult, UiError> {
    let (s, actor) = state.signed_in().await?;
    let amount = match amount.filter(|a| !a.trim().is_empty()) {
        Some(a) => Some(s.parse_amount(&a).await?),
        None => None,
    };
    Ok(s.refund_payment(&actor, payment_id, amount).await?)
}

/// The clinic's newest payments (the Payments and Failed payments screens).
#[tauri::command]
#[specta::specta]
pub async fn recent_payments(state: State<'_, AppState>) -> Result<Vec<Payment>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.list_payments(&actor, None).await?)
}

/// The clinic's orders in payment recovery, optionally of one status.
#[tauri::command]
#[specta::specta]
pub async fn recovery_orders(
    state: State<'_, AppState>,
    status: Option<RecoveryStatus>,
) -> Result<Vec<Order>, UiError> {
    let (s, actor) = state.signed_in().await?;
    let orders = s.list_orders(&actor, None, status).await?;
    Ok(orders
        .into_iter()
        .filter(|o| o.recovery_status.is_some())
        .collect())
}

// ---------------------------------------------------------------- what to check and escalation

#[tauri::command]
#[specta::specta]
pub async fn what_to_check(
    state: State<'_, AppState>,
    patient_id: PatientId,
    order_id: Option<OrderId>,
) -> Result<Vec<Check>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.what_to_check(&actor, patient_id, order_id).await?)
}

/// The escalation report, saved as a PDF in the Documents folder; its text goes to the clipboard.
#[tauri::command]
#[specta::specta]
pub async fn escalation_report(
    state: State<'_, AppState>,
    patient_id: PatientId,
    order_id: Option<OrderId>,
    shown_message: Option<String>,
) -> Result<SavedReport, UiError> {
    let (s, actor) = state.signed_in().await?;
    let folder = state.reports_folder();
    Ok(s.save_escalation_pdf(
        &actor,
        patient_id,
        order_id,
        shown_message.as_deref(),
        &folder,
    )
    .await?)
}

// ---------------------------------------------------------------- processor log and settings

#[tauri::command]
#[specta::specta]
pub async fn processor_log(
    state: State<'_, AppState>,
    patient_id: Option<PatientId>,
    search: Option<String>,
) -> Result<Vec<LogEntry>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(match search.filter(|t| !t.trim().is_empty()) {
        Some(text) => s.search_processor_log(&actor, &text).await?,
        None => s.processor_log(&actor, None, patient_id).await?,
    })
}

#[tauri::command]
#[specta::specta]
pub async fn settings(state: State<'_, AppState>) -> Result<SettingsView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.settings(&actor).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn set_setting(
    state: State<'_, AppState>,
    key: String,
    value: String,
) -> Result<SettingChanged, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.set_setting(&actor, &key, &value).await?)
}

/// Settings → Payment recovery emails: the four emails' words.
#[tauri::command]
#[specta::specta]
pub async fn notice_templates(
    state: State<'_, AppState>,
) -> Result<Vec<clinicpay_services::recovery::NoticeTemplateView>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.notice_templates(&actor).await?)
}

/// Saves a recovery email's words (a billing manager).
#[tauri::command]
#[specta::specta]
pub async fn set_notice_template(
    state: State<'_, AppState>,
    stage: clinicpay_domain::notices::NoticeStage,
    subject: String,
    body: String,
) -> Result<clinicpay_services::recovery::NoticeTemplateView, UiError> {
    let (s, actor) = state.signed_in().await?;
    let template = clinicpay_domain::notices::NoticeTemplate { subject, body };
    Ok(s.set_notice_template(&actor, stage, template).await?)
}

/// The email a recovery template makes for an example patient, before it is saved.
#[tauri::command]
#[specta::specta]
pub async fn preview_notice_template(
    state: State<'_, AppState>,
    stage: clinicpay_domain::notices::NoticeStage,
    subject: String,
    body: String,
) -> Result<clinicpay_services::reminders::Email, UiError> {
    let (s, actor) = state.signed_in().await?;
    let template = clinicpay_domain::notices::NoticeTemplate { subject, body };
    Ok(s.preview_notice(&actor, stage, template).await?)
}

/// Locks the desk: the person stays named on the lock screen, but nothing more is served until a
/// password is given again (theirs, or a colleague's for a quick switch).
#[tauri::command]
#[specta::specta]
pub async fn lock_desk(
    state: State<'_, AppState>,
    cards: State<'_, CardEntry>,
) -> Result<(), UiError> {
    cards.cancel();
    state.close_session("the window locked").await
}

// ---------------------------------------------------------------- long work

/// How often the sweep's progress reaches the window.
const SWEEP_PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(100);

/// A billing manager's recovery sweep, reporting its progress on `progress` (ten times a second at
/// most, and its end); `cancel_recovery_sweep` stops it between orders.
#[tauri::command]
#[specta::specta]
pub async fn recovery_sweep(
    state: State<'_, AppState>,
    progress: tauri::ipc::Channel<SweepProgress>,
) -> Result<SweepProgress, UiError> {
    let (s, actor) = state.signed_in().await?;
    let cancel = state.start_sweep(&actor)?;
    // Each message is a script the page runs between its frames: the newest figures a few times a
    // second, not one message per order (hundreds a second against the simulators), and the end.
    let mut sent: Option<std::time::Instant> = None;
    let result = s
        .recovery_sweep(&actor, &cancel, |p| {
            let due = sent.is_none_or(|t| t.elapsed() >= SWEEP_PROGRESS_EVERY);
            if due || p.done == p.total || p.cancelled {
                sent = Some(std::time::Instant::now());
                let _ = progress.send(p);
            }
        })
        .await;
    state.end_sweep();
    Ok(result?)
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_recovery_sweep(state: State<'_, AppState>) -> Result<(), UiError> {
    let (_, actor) = state.signed_in().await?;
    state.cancel_sweep(&actor)
}

// ---------------------------------------------------------------- expiring cards and reminders

#[tauri::command]
#[specta::specta]
pub async fn expiring_cards(
    state: State<'_, AppState>,
    within_days: Option<u32>,
    expired: bool,
    patient_type: Option<PatientType>,
    service: Option<String>,
    after: Option<ExpiringCursor>,
) -> Result<ExpiringCards, UiError> {
    let (s, actor) = state.signed_in().await?;
    // The window asks in pages: "Show more" passes the page's `next`.
    let filter = ExpiringFilter {
        within_days,
        expired,
        patient_type,
        service,
        page_size: Some(DASHBOARD_PAGE),
        after,
    };
    Ok(s.expiring_cards(&actor, &filter).await?)
}

/// Notify: a reminder now for each chosen card.
#[tauri::command]
#[specta::specta]
pub async fn notify_cards(
    state: State<'_, AppState>,
    card_ids: Vec<PaymentMethodId>,
) -> Result<ReminderReport, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.notify_cards(&actor, &card_ids).await?)
}

// ---------------------------------------------------------------- reports

/// The gateway report for whole days `from`..`to` (YYYY-MM-DD; the last 30 days when empty).
#[tauri::command]
#[specta::specta]
pub async fn gateway_report(
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
) -> Result<GatewayReport, UiError> {
    let (s, actor) = state.signed_in().await?;
    let (from, to) = (parse_day(from)?, parse_day(to)?);
    Ok(s.gateway_report(&actor, from, to).await?)
}

/// Saves the report as CSV or PDF in the reports folder (Documents/ClinicPay).
#[tauri::command]
#[specta::specta]
pub async fn export_gateway_report(
    state: State<'_, AppState>,
    from: Option<String>,
    to: Option<String>,
    format: String,
) -> Result<ExportedReport, UiError> {
    let (s, actor) = state.signed_in().await?;
    let report = s
        .gateway_report(&actor, parse_day(from)?, parse_day(to)?)
        .await?;
    let ext = if format == "pdf" { "pdf" } else { "csv" };
    let folder = state.reports_folder();
    std::fs::create_dir_all(&folder).map_err(|e| UiError {
        code: clinicpay_services::ErrorCode::InvalidInput,
        message: format!(
            "The reports folder {} cannot be made ({e}); ask IT.",
            folder.display()
        ),
    })?;
    let file = folder.join(format!(
        "ClinicPay gateway report {} to {}.{ext}",
        report.from, report.to
    ));
    Ok(s.export_gateway_report(&actor, &report, &file).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn failed_payments(
    state: State<'_, AppState>,
    search: Option<String>,
) -> Result<Vec<Payment>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.failed_payments(&actor, search.as_deref()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn charged_twice(
    state: State<'_, AppState>,
    patient: Option<PatientId>,
) -> Result<Vec<Payment>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.charged_twice(&actor, patient).await?)
}

/// Reconciles a period (UTC days, both included) now; billing managers.
#[tauri::command]
#[specta::specta]
pub async fn reconcile(
    state: State<'_, AppState>,
    from: String,
    to: String,
    gateway: Option<Gateway>,
) -> Result<Reconciliation, UiError> {
    let (s, actor) = state.signed_in().await?;
    let yesterday = (s.now() - chrono::Duration::days(1)).date_naive();
    let from = parse_day(Some(from))?.unwrap_or(yesterday);
    let to = parse_day(Some(to))?.unwrap_or(from);
    Ok(s.reconcile(&actor, from, to, gateway).await?)
}

/// The newest reconciliations, daily and asked for, with their differences.
#[tauri::command]
#[specta::specta]
pub async fn reconciliations(state: State<'_, AppState>) -> Result<Vec<Reconciliation>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.reconciliations(&actor).await?)
}

/// The newest daily verdict, for the top bar (billing managers; None for others or before the first).
#[tauri::command]
#[specta::specta]
pub async fn reconciliation_verdict(
    state: State<'_, AppState>,
) -> Result<Option<ReconciliationVerdict>, UiError> {
    let (s, actor) = state.signed_in().await?;
    if !actor.role.allows(clinicpay_domain::Permission::ViewReports) {
        return Ok(None);
    }
    Ok(s.reconciliation_verdict(&actor).await?)
}

fn parse_day(day: Option<String>) -> Result<Option<chrono::NaiveDate>, UiError> {
    match day.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
        None => Ok(None),
        Some(d) => d.parse().map(Some).map_err(|_| UiError {
            code: clinicpay_services::ErrorCode::InvalidInput,
            message: format!(
                "\"{d}\" is not a date: use the date picker, or type it as 2026-11-24."
            ),
        }),
    }
}

// ---------------------------------------------------------------- gateway migration readiness

#[tauri::command]
#[specta::specta]
pub async fn gateway_readiness(
    state: State<'_, AppState>,
    to: Gateway,
) -> Result<GatewayReadiness, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.gateway_readiness(&actor, to).await?)
}

/// Emails the at-risk patients who have a card on file to re-save it for `to`.
#[tauri::command]
#[specta::specta]
pub async fn request_card_resave(
    state: State<'_, AppState>,
    to: Gateway,
) -> Result<ReminderReport, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.request_card_resave(&actor, to).await?)
}

// ---------------------------------------------------------------- IT: desks, diagnostics, updates

#[tauri::command]
#[specta::specta]
pub async fn desks(state: State<'_, AppState>) -> Result<Vec<DeskView>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.list_desks(&actor).await?)
}

/// Where the first-run setup typed so far is kept on this computer.
fn setup_draft_file() -> std::path::PathBuf {
    crate::desk_folder().join("setup-draft.json")
}

/// First-run setup: what was typed so far on this computer (the window resumes there). Nobody is signed
/// in (there is nobody yet); every setup command refuses once the database holds a clinic.
#[tauri::command]
#[specta::specta]
pub async fn setup_draft(state: State<'_, AppState>) -> Result<SetupDraft, UiError> {
    Ok(state.services()?.setup_draft(&setup_draft_file()).await?)
}

/// First-run setup: keeps what was typed (never a secret or the password).
#[tauri::command]
#[specta::specta]
pub async fn keep_setup_draft(
    state: State<'_, AppState>,
    draft: SetupDraft,
) -> Result<(), UiError> {
    Ok(state
        .services()?
        .keep_setup_draft(&setup_draft_file(), &draft)
        .await?)
}

/// First-run setup: the first IT account's name and password, checked.
#[tauri::command]
#[specta::specta]
pub async fn check_setup_account(
    state: State<'_, AppState>,
    draft: SetupDraft,
    password: String,
) -> Result<(), UiError> {
    Ok(state
        .services()?
        .check_setup_account(&draft, &password)
        .await?)
}

/// First-run setup: the gateway's secret into this computer's keychain (when given) and a live check.
#[tauri::command]
#[specta::specta]
pub async fn check_setup_gateway(
    state: State<'_, AppState>,
    draft: SetupDraft,
    gateway: Gateway,
    secret: Option<String>,
) -> Result<SetupCheck, UiError> {
    let s = state.services()?;
    let checked = s.check_setup_gateway(&draft, gateway, secret).await?;
    s.keep_setup_draft(&setup_draft_file(), &checked.draft)
        .await?;
    Ok(checked)
}

/// First-run setup: the mail server's password into the keychain (when given) and a test email.
#[tauri::command]
#[specta::specta]
pub async fn send_setup_test_email(
    state: State<'_, AppState>,
    draft: SetupDraft,
    password: Option<String>,
    to: String,
) -> Result<SetupDraft, UiError> {
    let s = state.services()?;
    let tested = s.send_setup_test_email(&draft, password, &to).await?;
    s.keep_setup_draft(&setup_draft_file(), &tested).await?;
    Ok(tested)
}

/// First-run setup's last step: the clinic and its first IT account, made in one go.
#[tauri::command]
#[specta::specta]
pub async fn finish_setup(
    state: State<'_, AppState>,
    draft: SetupDraft,
    password: String,
) -> Result<ClinicInfo, UiError> {
    let clinic = state.services()?.finish_setup(&draft, &password).await?;
    // Nothing of it is needed any more; a draft that cannot be removed is refused from now on anyway.
    let _ = std::fs::remove_file(setup_draft_file());
    tracing::info!(clinic = %clinic.clinic_name, "first-run setup finished: the clinic is set up");
    Ok(clinic)
}

/// The first-run screen's other path: the demo clinic on the built-in simulators (training), in its
/// own database on this computer, opened from now on at this desk.
#[tauri::command]
#[specta::specta]
pub async fn open_demo_clinic(
    state: State<'_, AppState>,
    engine: State<'_, crate::engine::DeskEngine>,
) -> Result<ClinicInfo, UiError> {
    let s = state.services()?;
    let url = s.prepare_demo_clinic(&crate::desk_folder()).await?;
    let demo = state.switch_to(&url, s.managed().clone()).await?;
    if let Some(desk) = &state.desk {
        engine.start(demo.clone(), desk.name.clone());
    }
    tracing::info!("the demo clinic is open at this desk (training)");
    Ok(demo.clinic_info().await?)
}

/// First-run setup: where the clinic will live (this computer, or what IT pinned).
#[tauri::command]
#[specta::specta]
pub async fn setup_database(state: State<'_, AppState>) -> Result<SetupDatabase, UiError> {
    Ok(state
        .services()?
        .setup_database(&state.database_url())
        .await?)
}

/// First-run setup: the clinic's PostgreSQL instead of this computer. Joins the clinic already there,
/// or goes on setting one up in it; this desk opens it from now on.
#[tauri::command]
#[specta::specta]
pub async fn use_clinic_database<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    engine: State<'_, crate::engine::DeskEngine>,
    address: String,
    password: Option<String>,
) -> Result<DatabaseChosen, UiError> {
    let s = state.services()?;
    let url = clinicpay_services::setup::clinic_database_url(&address, password.as_deref())?;
    let (_, chosen) = s
        .choose_clinic_database(&url, &crate::desk_folder())
        .await?;
    let clinic = state.switch_to(&url, s.managed().clone()).await?;
    if let Some(desk) = &state.desk {
        engine.start(clinic.clone(), desk.name.clone());
    }
    crate::live::start(app, clinic);
    tracing::info!(database = %chosen.database, joined = chosen.clinic_name.is_some(), "this desk now uses the clinic's PostgreSQL");
    Ok(chosen)
}

/// The billing engine: which desk or service runs it, its last pass, the work due, the last error, and
/// the top bar's warning after an hour without a pass (billing managers and IT).
#[tauri::command]
#[specta::specta]
pub async fn billing_engine(state: State<'_, AppState>) -> Result<EngineStatus, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.engine_status(&actor).await?)
}

/// Every staff account, its role and whether it is switched on (Settings → Staff, IT's panel).
#[tauri::command]
#[specta::specta]
pub async fn staff_accounts(state: State<'_, AppState>) -> Result<Vec<StaffView>, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.list_staff(&actor).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn add_staff_account(
    state: State<'_, AppState>,
    username: String,
    display_name: String,
    role: Role,
    password: String,
) -> Result<StaffView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(
        s.add_staff(Some(&actor), &username, &display_name, role, &password)
            .await?,
    )
}

/// IT switches an account off (its sessions end at their next command) or on again.
#[tauri::command]
#[specta::specta]
pub async fn set_staff_active(
    state: State<'_, AppState>,
    username: String,
    active: bool,
) -> Result<StaffView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.set_staff_active(&actor, &username, active).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn set_staff_role(
    state: State<'_, AppState>,
    username: String,
    role: Role,
) -> Result<StaffView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.set_staff_role(&actor, &username, role).await?)
}

/// IT sets a new password for someone who forgot theirs (it ends a lock-out and their sessions).
#[tauri::command]
#[specta::specta]
pub async fn reset_staff_password(
    state: State<'_, AppState>,
    username: String,
    password: String,
) -> Result<StaffView, UiError> {
    let (s, actor) = state.signed_in().await?;
    Ok(s.reset_staff_password(&actor, &username, &password).await?)
}

/// Anyone signed in changes their own password, giving the current one.
#[tauri::command]
#[specta::specta]
pub async fn change_own_password(
    state: State<'_, AppState>,
    current: String,
    new_password: String,
) -> Result<(), UiError> {
    state.change_own_password(&current, &new_password).await
}

/// Writes the diagnostics bundle into the reports folder, for IT: it says how this desk and the clinic
/// are set up (an IT person signs in at the desk that has trouble).
#[tauri::command]
#[specta::specta]
pub async fn write_diagnostics(state: State<'_, AppState>) -> Result<DiagnosticsWritten, UiError> {
    let (s, actor) = state.signed_in().await?;
    let out = state.reports_folder().join(format!(
        "clinicpay-diagnostics-{}.zip",
        s.now().format("%Y%m%d-%H%M%S")
    ));
    let request = DiagnosticsRequest {
        app_version: &state.app_version,
        desk: state.desk.as_ref(),
        log_dir: clinicpay_services::diagnostics::log_dir(),
        out,
    };
    Ok(s.write_diagnostics(&actor, request, &state.database_url())
        .await?)
}

#[tauri::command]
#[specta::specta]
pub async fn update_status(updates: State<'_, Updates>) -> Result<UpdateStatus, UiError> {
    Ok(updates.status())
}

#[tauri::command]
#[specta::specta]
pub async fn check_for_updates<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    updates: State<'_, Updates>,
) -> Result<UpdateStatus, UiError> {
    // Someone at the desk asks, not a page that found a way to call commands.
    state.signed_in().await?;
    crate::updates::check(&app).await;
    Ok(updates.status())
}

/// "Restart to update": downloads, verifies the signature, installs and restarts the app.
#[tauri::command]
#[specta::specta]
pub async fn install_update<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
) -> Result<(), UiError> {
    state.signed_in().await?;
    crate::updates::install(&app).await
}

/// "Later today".
#[tauri::command]
#[specta::specta]
pub async fn postpone_update(updates: State<'_, Updates>) -> Result<UpdateStatus, UiError> {
    updates.postpone(chrono::Utc::now())
}
