//! The sign-in form in the desk window's first page, before any script has run (docs/performance.md,
//! cold start): the app knows the clinic when it opens the window, so the page it serves already holds
//! the form the React app then takes over (`ui/src/main.tsx` keeps what was typed and where). The
//! window is usable as soon as WebKit has parsed the HTML, as a hello-world page is; nothing is fetched
//! before the first paint. The markup is `ui/src/App.tsx` + `shell/SignIn.tsx` + `shell/TrainingBanner.tsx`
//! as they render for a desk nobody is signed in at; the window test "the sign-in form is on screen
//! before the page's scripts run" checks the two stay the same.
//!
//! Until the scripts run the form cannot be sent: its button is disabled (so Enter does nothing), and
//! the page's policy has `form-action 'none'` besides.

use std::borrow::Cow;

use clinicpay_services::clinic::ClinicInfo;

/// Where the React app mounts, as `ui/index.html` has it.
const ROOT: &str = r#"<div id="root"></div>"#;

/// The markup of the sign-in screen for `clinic`, or None where the first screen is another one (a
/// clinic not set up yet, a training clinic IT refused on this desk).
pub fn sign_in_markup(clinic: &ClinicInfo) -> Option<String> {
    if !clinic.configured || clinic.training_refused {
        return None;
    }
    let banner = if clinic.training_mode {
        r#"<div class="training-banner" role="status" data-testid="training-banner"><strong>Training mode</strong> — the demo clinic on the built-in gateway simulators. No real card is charged and no real money moves.</div>"#
    } else {
        ""
    };
    let hint = if clinic.training_mode {
        r#"<p class="muted small">Demo clinic: sign in as frontdesk, manager or it with the password demo.</p>"#
    } else {
        ""
    };
    Some(format!(
        r#"<div class="app">{banner}<div class="center-screen"><form class="panel sign-in" aria-labelledby="sign-in-title" data-prerendered=""><p class="brand">ClinicPay</p><h1 id="sign-in-title">Sign in to {name}</h1><label>Sign-in name<input name="username" autocomplete="username" autofocus="" required=""></label><label>Password<input name="password" type="password" autocomplete="current-password" required=""></label><button type="submit" class="primary" disabled="">Sign in</button>{hint}</form></div></div><div class="toasts" role="status" aria-live="polite"></div>"#,
        name = escape(&clinic.clinic_name),
    ))
}

/// The desk window's page with `markup` in its root; any other page or resource as it was.
pub fn into_page(path: &str, body: &[u8], markup: &str) -> Option<Vec<u8>> {
    if !matches!(path, "/" | "/index.html") {
        return None;
    }
    let page = std::str::from_utf8(body).ok()?;
    page.contains(ROOT).then(|| {
        page.replacen(ROOT, &format!(r#"<div id="root">{markup}</div>"#), 1)
            .into_bytes()
    })
}

/// Serves the desk window's page with the sign-in form drawn in (`on_web_resource_request`).
pub fn serve(
    request: &tauri::http::Request<Vec<u8>>,
    response: &mut tauri::http::Response<Cow<'static, [u8]>>,
    markup: &str,
) {
    if let Some(page) = into_page(request.uri().path(), response.body(), markup) {
        let length = page.len();
        *response.body_mut() = Cow::Owned(page);
        if let Ok(v) = tauri::http::HeaderValue::from_str(&length.to_string()) {
            if response
                .headers()
                .contains_key(tauri::http::header::CONTENT_LENGTH)
            {
                response
                    .headers_mut()
                    .insert(tauri::http::header::CONTENT_LENGTH, v);
            }
        }
    }
}

/// Text as HTML: a clinic's name is what its billing manager typed.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clinic(name: &str, training: bool) -> ClinicInfo {
        ClinicInfo {
            clinic_name: name.into(),
            active_gateway: clinicpay_domain::Gateway::Nmi,
            fallback_gateway: None,
            training_mode: training,
            configured: true,
            desk_lock_minutes: 0,
            training_refused: false,
        }
    }

    #[test]
    fn the_desk_page_carries_the_sign_in_form_with_the_clinics_name_as_text() {
        let markup = sign_in_markup(&clinic("Smith & <b>Sons</b>", false)).unwrap();
        let page = into_page(
            "/index.html",
            br#"<body><div id="root"></div><script type="module" src="/assets/index.js"></script></body>"#,
            &markup,
        )
        .unwrap();
        let page = String::from_utf8(page).unwrap();
        assert!(
            page.contains("Sign in to Smith &amp; &lt;b&gt;Sons&lt;/b&gt;</h1>"),
            "{page}"
        );
        assert!(page.contains(r#"<input name="username""#));
        assert!(page.contains(r#"<button type="submit" class="primary" disabled="">"#));
        assert!(!page.contains("Training mode"));
        assert!(page.contains(r#"<script type="module" src="/assets/index.js">"#));
    }

    #[test]
    fn a_training_clinic_shows_its_banner_and_hint_and_other_pages_are_left_alone() {
        let markup = sign_in_markup(&clinic("Demo", true)).unwrap();
        assert!(markup.contains("Training mode") && markup.contains("password demo"));
        assert!(into_page("/card.html", br#"<div id="root"></div>"#, &markup).is_none());
        assert!(into_page("/assets/index.js", b"let x = 1;", &markup).is_none());
        let mut first_run = clinic("", false);
        first_run.configured = false;
        assert!(sign_in_markup(&first_run).is_none());
    }
}
