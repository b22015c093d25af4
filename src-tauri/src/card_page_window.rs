//! Stripe's card page in a window of its own (issue 22): where the desk window's origin cannot run
//! Stripe Elements live (`tauri://localhost` on macOS and Linux), "Add payment method" opens Stripe
//! Checkout in setup mode here. The window shows only the gateway's page: no capability names its
//! label (`card-page-N`), so Tauri refuses it every ClinicPay command, and the page can hand nothing
//! back but where it navigates. The window watches for the page's success and Back addresses (on
//! `clinicpay.invalid`, never loaded), then closes; the desk asks Stripe how the page ended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use clinicpay_services::card_pages::{CardPage, PageEnd};
use clinicpay_services::ErrorCode;
use tauri::{AppHandle, Manager, Runtime, WebviewUrl, WebviewWindowBuilder, WindowEvent};
use tokio::sync::oneshot;

use crate::error::UiError;

/// Card page windows are labelled `card-page-N`; no capability matches them.
pub const LABEL_PREFIX: &str = "card-page-";

struct Open {
    label: String,
    reply: oneshot::Sender<PageEnd>,
    close: Box<dyn Fn() + Send + Sync>,
}

/// The one card page open at this desk, if any.
#[derive(Default)]
pub struct CardPages {
    open: Arc<Mutex<Option<Open>>>,
    next: AtomicU64,
}

impl CardPages {
    /// Opens `page` in its window (ending any other) and gives the receiver of how it ended.
    pub fn open<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        page: &CardPage,
        training_simulator: Option<String>,
    ) -> Result<oneshot::Receiver<PageEnd>, UiError> {
        self.cancel();
        let label = format!(
            "{LABEL_PREFIX}{}",
            self.next.fetch_add(1, Ordering::Relaxed)
        );
        let failed = |m: String| {
            UiError {
            code: ErrorCode::Internal,
            message: format!("Stripe's card page could not be opened ({m}). Try again; if it keeps failing, restart ClinicPay."),
        }
        };
        let url: tauri::Url = page.url.parse().map_err(|e| failed(format!("{e}")))?;
        let (reply, receiver) = oneshot::channel();
        let (closing, closing_label) = (app.clone(), label.clone());
        *lock(&self.open) = Some(Open {
            label: label.clone(),
            reply,
            close: Box::new(move || close(&closing, &closing_label)),
        });
        let (done, back) = (page.done_url.clone(), page.back_url.clone());
        let (open, watched) = (self.open.clone(), label.clone());
        let built = (|| {
            let mut builder = WebviewWindowBuilder::new(app, &label, WebviewUrl::External(url))
                .title("Save a card with Stripe")
                .inner_size(520.0, 760.0)
                .minimizable(false)
                .center()
                .on_navigation(move |to| {
                    let how = if to.as_str().starts_with(&done) {
                        PageEnd::ReachedDone
                    } else if to.as_str().starts_with(&back) {
                        PageEnd::Closed
                    } else {
                        return may_show(to, training_simulator.as_deref());
                    };
                    end(&open, &watched, how);
                    false
                })
                // The page opens no windows of its own.
                .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny);
            if let Some(main) = app.get_webview_window("main") {
                builder = builder.parent(&main)?;
            }
            builder.build()
        })();
        let window = match built {
            Ok(w) => w,
            Err(e) => {
                lock(&self.open).take();
                return Err(failed(e.to_string()));
            }
        };
        let open = self.open.clone();
        window.on_window_event(move |event| {
            if matches!(event, WindowEvent::Destroyed) {
                end(&open, &label, PageEnd::Closed);
            }
        });
        Ok(receiver)
    }

    /// Closes the page window without a card (the dialog closed, sign-out, the desk locking, the
    /// app closing, the page's time ran out).
    pub fn cancel(&self) {
        let taken = lock(&self.open).take();
        if let Some(o) = taken {
            let _ = o.reply.send(PageEnd::Closed);
            (o.close)();
        }
    }
}

/// The page window `label` ended as `how`: the waiting desk is told once, and the window goes.
fn end(open: &Mutex<Option<Open>>, label: &str, how: PageEnd) {
    let taken = {
        let mut o = lock(open);
        match o.as_ref() {
            Some(p) if p.label == label => o.take(),
            _ => None,
        }
    };
    if let Some(o) = taken {
        let _ = o.reply.send(how);
        (o.close)();
    }
}

/// Closes the window later, off the navigation callback that may be running on its own thread.
fn close<R: Runtime>(app: &AppHandle<R>, label: &str) {
    let (app, label) = (app.clone(), label.to_owned());
    tauri::async_runtime::spawn(async move {
        if let Some(w) = app.get_webview_window(&label) {
            let _ = w.destroy();
        }
    });
}

fn lock(open: &Mutex<Option<Open>>) -> std::sync::MutexGuard<'_, Option<Open>> {
    open.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the page window may go: Stripe's page and what it loads live over HTTPS (its own frames and a
/// bank's 3-D Secure page among them, which is why no host list is kept), never in clear; in training
/// only the app's own simulator.
fn may_show(url: &tauri::Url, training_simulator: Option<&str>) -> bool {
    if url.as_str() == "about:blank" {
        return true;
    }
    match training_simulator {
        Some(sim) => url.origin().ascii_serialization() == sim.trim_end_matches('/'),
        None => url.scheme() == "https",
    }
}

#[cfg(test)]
mod tests {
    use super::may_show;

    fn show(url: &str, sim: Option<&str>) -> bool {
        may_show(&url.parse().unwrap(), sim)
    }

    #[test]
    fn the_card_page_window_shows_stripe_over_https_and_in_training_only_the_simulator() {
        assert!(show(
            "https://checkout.stripe.com/c/pay/cs_live_a1#fid",
            None
        ));
        assert!(show("https://hooks.stripe.com/3d_secure_2/hosted", None));
        assert!(!show("http://checkout.stripe.com/c/pay/cs_live_a1", None));
        assert!(!show("file:///etc/passwd", None));
        let sim = Some("http://127.0.0.1:41234");
        assert!(show(
            "http://127.0.0.1:41234/stripe/checkout/cs_test_1",
            sim
        ));
        assert!(!show("https://checkout.stripe.com/c/pay/cs_test_1", sim));
    }
}
