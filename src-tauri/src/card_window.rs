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

/// The one card being entered at this desk, if any: in the card window, or on Stripe's page in its
/// own window (`card_page_window`).
#[derive(Default)]
pub struct CardEntry {
    pending: Mutex<Option<Pending>>,
    next: AtomicU64,
    pub pages: crate::card_page_window::CardPages,
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
        training_simulator: Option<String>,
    ) -> Result<oneshot::Receiver<String>, UiError> {
        self.cancel();
        let label = format!(
            "{LABEL_PREFIX}{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        // Pending before the window exists: its page may ask for its settings at once.
        let (reply, receiver) = oneshot::channel();
        let (closing, closing_label) = (app.clone(), label.clone());
        *self.lock() = Some(Pending {
            label: label.clone(),
            page,
            reply,
            close: Box::new(move || {
                if let Some(w) = closing.get_webview_window(&closing_label) {
                    let _ = w.destroy();
                }
            }),
        });
        let failed = |e: tauri::Error| {
            UiError {
            code: ErrorCode::Internal,
            message: format!("The card window could not be opened ({e}). Try again; if it keeps failing, restart ClinicPay."),
        }
        };
        let built = (|| {
            let mut builder =
                WebviewWindowBuilder::new(app, &label, WebviewUrl::App("card-form.html".into()))
                    .title("Card details")
                    .inner_size(520.0, 420.0)
                    .resizable(false)
                    .minimizable(false)
                    .maximizable(false)
                    .use_https_scheme(true)
                    .center()
                    // The card window shows its own page and the gateway's frames, nothing else: a
                    // script there cannot take it to a look-alike page.
                    .on_navigation(move |url| may_show(url, training_simulator.as_deref()))
                    // Nor open windows of its own.
                    .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny);
            if let Some(main) = app.get_webview_window("main") {
                builder = builder.parent(&main)?;
            }
            builder.build()
        })();
        let window = match built {
            Ok(w) => w,
            Err(e) => {
                self.forget(&label);
                return Err(failed(e));
            }
        };
        let app = app.clone();
        window.on_window_event(move |event| {
            if matches!(event, WindowEvent::Destroyed) {
                app.state::<CardEntry>().forget(&label);
            }
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

    /// The card window `label` closes itself without a card (its Cancel): only its own entry.
    pub fn cancel_own(&self, label: &str) {
        let taken = {
            let mut pending = self.lock();
            match pending.as_ref() {
                Some(p) if p.label == label => pending.take(),
                _ => None,
            }
        };
        if let Some(p) = taken {
            (p.close)();
        }
    }

    /// Closes the card window or Stripe's page without a card (Cancel, sign-out, the desk locking,
    /// the app closing).
    pub fn cancel(&self) {
        self.pages.cancel();
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

/// Where the card window may go: its own page (as the app serves it), a blank frame, and the origins
/// the card window's policy lets frames come from (the gateways', or in training the simulator).
fn may_show(url: &tauri::Url, training_simulator: Option<&str>) -> bool {
    let host = url.host_str().unwrap_or_default();
    let own = (url.scheme() == "tauri" && host == "localhost")
        || (matches!(url.scheme(), "https" | "http") && host == "tauri.localhost")
        // `cargo run` without the custom protocol: the Vite dev server.
        || (cfg!(dev) && url.scheme() == "http" && host == "localhost");
    if own || url.as_str() == "about:blank" {
        return true;
    }
    let origin = url.origin().ascii_serialization();
    match training_simulator {
        Some(sim) => origin == sim.trim_end_matches('/'),
        None => {
            url.scheme() == "https"
                && (matches!(
                    host,
                    "js.stripe.com" | "hooks.stripe.com" | "secure.nmi.com"
                ) || host.ends_with(".js.stripe.com"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::may_show;

    fn show(url: &str, sim: Option<&str>) -> bool {
        may_show(&url.parse().unwrap(), sim)
    }

    #[test]
    fn the_card_window_goes_nowhere_but_its_page_and_the_gateways_frames() {
        assert!(show("tauri://localhost/card-form.html", None));
        assert!(show("https://tauri.localhost/card-form.html", None));
        assert!(show(
            "https://js.stripe.com/v3/elements-inner-card.html",
            None
        ));
        assert!(show("https://secure.nmi.com/token/inline.html", None));
        assert!(!show("https://js.stripe.com.evil.example/", None));
        assert!(!show("https://evil.example/login", None));
        assert!(!show("http://js.stripe.com/", None), "never in clear");
        // Training: only the app's own simulator.
        let sim = Some("http://127.0.0.1:41234");
        assert!(show("http://127.0.0.1:41234/token/field?f=ccnumber", sim));
        assert!(!show("http://127.0.0.1:41235/", sim));
        assert!(!show("https://js.stripe.com/v3/", sim));
    }
}
