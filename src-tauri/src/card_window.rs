//! The card window (issue 19, item 8): the gateways' scripts (Stripe.js, Collect.js, or the training
//! simulator's stand-ins) run only here, never in the desk window. Its capability
//! (`capabilities/card-form.json`) lets it read which gateway to load and hand back one token; every
//! other ClinicPay command is refused to it by Tauri before it runs. The desk window's
//! `add_card_through_form` opens it, waits for the token here in Rust, and saves the card itself, so the
//! token never passes through a page either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use clinicpay_domain::Gateway;
use clinicpay_services::ErrorCode;
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tokio::sync::oneshot;

use crate::error::UiError;

/// Card windows are labelled `card-form-N`, one per card being entered.
pub const LABEL_PREFIX: &str = "card-form-";

/// What the card window may know: which hosted fields to load and the billing details Stripe takes.
/// All of it is public by design (a publishable or tokenization key, the name typed at the desk).
#[derive(Debug, Clone, Serialize, specta::Type)]
pub struct CardFormPage {
    pub gateway: Gateway,
    pub script_url: String,
    pub public_key: String,
    pub training: bool,
    pub cardholder_name: Option<String>,
    pub country: Option<String>,
}

struct Pending {
    label: String,
    page: CardFormPage,
    reply: oneshot::Sender<String>,
    close: Box<dyn Fn() + Send + Sync>,
}

/// The one card being entered at this desk, if any.
#[derive(Default)]
pub struct CardEntry {
    pending: Mutex<Option<Pending>>,
    next: AtomicU64,
}

fn nothing_pending() -> UiError {
    UiError {
        code: ErrorCode::NotFound,
        message: "No card is being entered in this window: close it and start again from Add payment method.".into(),
    }
}

impl CardEntry {
    /// Opens a card window for `page` (closing any other), and gives the receiver of its token. The
    /// receiver ends without a token when the window is closed, cancelled or replaced.
    pub fn open<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        page: CardFormPage,
    ) -> Result<oneshot::Receiver<String>, UiError> {
        self.cancel();
        let label = format!(
            "{LABEL_PREFIX}{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let failed = |e: tauri::Error| {
            UiError {
            code: ErrorCode::Internal,
            message: format!("The card window could not be opened ({e}). Try again; if it keeps failing, restart ClinicPay."),
        }
        };
        let mut builder =
            WebviewWindowBuilder::new(app, &label, WebviewUrl::App("card-form.html".into()))
                .title("Card details")
                .inner_size(520.0, 420.0)
                .resizable(false)
                .minimizable(false)
                .maximizable(false)
                .use_https_scheme(true)
                .center()
                // A gateway script cannot open windows of its own.
                .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny);
        if let Some(main) = app.get_webview_window("main") {
            builder = builder.parent(&main).map_err(failed)?;
        }
        let window = builder.build().map_err(failed)?;
        let (reply, receiver) = oneshot::channel();
        {
            let app = app.clone();
            let label = label.clone();
            window.on_window_event(move |event| {
                if matches!(event, WindowEvent::Destroyed) {
                    app.state::<CardEntry>().forget(&label);
                }
            });
        }
        let closing = window.clone();
        *self.lock() = Some(Pending {
            label,
            page,
            reply,
            close: Box::new(move || {
                let _ = closing.destroy();
            }),
        });
        Ok(receiver)
    }

    /// What the card window `label` is to load: only the window opened for the card being entered.
    pub fn page(&self, label: &str) -> Result<CardFormPage, UiError> {
        match &*self.lock() {
            Some(p) if p.label == label => Ok(p.page.clone()),
            _ => Err(nothing_pending()),
        }
    }

    /// The card window `label` hands over its token: checked for its gateway's shape first (a card
    /// number or anything else is refused and not repeated), then given to the waiting desk window,
    /// and the card window closes.
    pub fn hand_over(&self, label: &str, token: &str) -> Result<(), UiError> {
        let mut pending = self.lock();
        let Some(p) = pending.as_ref().filter(|p| p.label == label) else {
            return Err(nothing_pending());
        };
        p.page
            .gateway
            .check_form_token(token)
            .map_err(|e| UiError {
                code: ErrorCode::InvalidInput,
                message: e.to_string(),
            })?;
        let p = pending.take().expect("checked above");
        drop(pending);
        let _ = p.reply.send(token.to_owned());
        (p.close)();
        Ok(())
    }

    /// Closes the card window without a card (Cancel, sign-out, the desk locking, the app closing).
    pub fn cancel(&self) {
        let taken = self.lock().take();
        if let Some(p) = taken {
            (p.close)();
        }
    }

    /// The window `label` is gone: its card is no longer being entered.
    fn forget(&self, label: &str) {
        let mut pending = self.lock();
        if pending.as_ref().is_some_and(|p| p.label == label) {
            pending.take();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Pending>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}
