//! Cards typed on Stripe's own page (issue 22), on both databases: Stripe Checkout in setup mode at the
//! desk (where the window cannot run Elements live) and as a secure card link emailed to the patient,
//! completed on the simulator's hosted page as the patient would, and saved here exactly once.
//!
//! These clinics run on the real clock: Stripe checks a page's expiry against its own.

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_services::card_pages::{CardLinkStatus, CardPageDetails, PageEnd};
use clinicpay_services::{ErrorCode, Services};
use clinicpay_testkit::{on_both_databases, SmtpServer};

fn details() -> CardPageDetails {
    CardPageDetails {
        cardholder_name: "John Q Smith".into(),
        country: "CA".into(),
        for_payment: false,
    }
}

/// The session id a page's address ends with (`…/stripe/checkout/cs_test_…`).
fn session_of(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

/// Add payment method at the desk on Stripe's page: the page ends as `end`, and a card saved on it
/// is added as the desk adds any card.
async fn desk_page(
    s: &Services,
    c: &Clinic,
    id: i64,
    end: PageEnd,
) -> clinicpay_services::Result<Option<clinicpay_services::cards::CardChange>> {
    let (using, desk, patient) = (s.clone(), c.desk.clone(), c.patient);
    s.card_from_page(&c.desk, id, end, move |card| async move {
        let saved = using.add_card(&desk, patient, card).await?;
        let id = saved.card.id;
        Ok((saved, Some(id)))
    })
    .await
}

/// A clinic whose emails go to `smtp`.
async fn with_mail(c: &Clinic, smtp: &SmtpServer) {
    for (k, v) in [
        ("clinic-name", "Riverside Clinic".to_owned()),
        ("smtp.host", "127.0.0.1".into()),
        ("smtp.port", smtp.port().to_string()),
        ("smtp.security", "none".into()),
        (
            "smtp.from",
            "Riverside Clinic <billing@riverside.example>".into(),
        ),
    ] {
        c.s.set_setting(&c.it, k, &v).await.unwrap();
    }
}

/// The link in a delivered email (quoted-printable soft breaks undone).
fn link_in(mail: &str) -> String {
    let text = mail
        .replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=");
    let at = text.find("http://127.0.0.1").expect("a link in the email");
    text[at..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches(['.', ','])
        .to_owned()
}

on_both_databases! {
    async fn a_card_saved_on_stripes_page_at_the_desk_is_added_once_like_any_card(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        assert!(page.url.contains("/stripe/checkout/cs_test_"), "{}", page.url);
        assert!(page.done_url.starts_with("https://clinicpay.invalid/") && page.back_url.starts_with("https://clinicpay.invalid/"));
        let minutes = (page.expires_at - chrono::Utc::now()).num_minutes();
        assert!((34..=35).contains(&minutes), "the desk ends it after 35 minutes: {minutes}");
        // Nothing is saved before the patient types a card.
        assert!(s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());

        // The bank declines the first card on the page: the page says so and stays open.
        assert!(c.sim.complete_checkout_setup(&session_of(&page.url), "4000000000000002", 12, 2030).is_err());
        c.sim.complete_checkout_setup(&session_of(&page.url), "4242424242424242", 12, 2030).unwrap();

        let saved = desk_page(&s, &c, page.id, PageEnd::ReachedDone).await.unwrap().expect("a card");
        assert_eq!(saved.message, "Your Visa ending in 4242 has been added to your account.");
        assert!(saved.card.is_default, "the first card becomes the default");
        assert_eq!((saved.card.gateway, saved.card.country.as_deref()), (Gateway::Stripe, Some("CA")));
        // Once: the same page again saves nothing more, here or at Stripe.
        assert!(desk_page(&s, &c, page.id, PageEnd::ReachedDone).await.unwrap().is_none());
        assert_eq!(s.list_cards(&c.desk, c.patient).await.unwrap().len(), 1);
        assert_eq!(c.sim.stripe_attached_cards(), 1);
        assert_eq!(c.sim.stripe_customers(), 1, "the page was made for the patient's one customer");

        let log = s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        for action in ["card_page.opened", "card.added", "card_page.complete"] {
            assert!(log.iter().any(|a| a.action == action && a.actor == "frontdesk"), "{action}: {log:?}");
        }
        // The page's address is a key to the patient's account: the processor log keeps its origin only.
        let calls = s.processor_log(&c.manager, None, Some(c.patient)).await.unwrap();
        assert!(calls.iter().any(|e| e.call.operation == "checkout.session.create"));
        assert!(!format!("{calls:?}").contains(&format!("/stripe/checkout/{}", session_of(&page.url))));
    }

    async fn back_or_a_closed_window_ends_stripes_page_and_saves_nothing(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        assert!(desk_page(&s, &c, page.id, PageEnd::Closed).await.unwrap().is_none());
        // Ended at Stripe first: the page takes no card afterwards.
        let refused = c.sim.complete_checkout_setup(&session_of(&page.url), "4242424242424242", 12, 2030).unwrap_err();
        assert!(refused.contains("expired"), "{refused}");
        assert!(s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());
        assert_eq!(c.sim.stripe_attached_cards(), 0);
        let log = s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        assert!(log.iter().any(|a| a.action == "card_page.expired"), "{log:?}");

        // The patient finished the page just before the window closed: the card is kept, not lost.
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        c.sim.complete_checkout_setup(&session_of(&page.url), "5555555555554444", 12, 2030).unwrap();
        let kept = desk_page(&s, &c, page.id, PageEnd::Closed).await.unwrap().expect("the card saved on the page");
        assert_eq!(kept.card.last4, "4444");
    }

    async fn a_page_the_desk_never_finished_is_saved_by_the_billing_engine_once_its_time_is_over(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        c.sim.complete_checkout_setup(&session_of(&page.url), "4242424242424242", 12, 2030).unwrap();
        // The desk closed before it said so (a crash). While the desk's time lasts, it is the desk's.
        assert_eq!(s.run_worker_pass().await.unwrap().card_links.saved, 0);
        assert!(s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());
        let later = c.with_clock(FixedClock(chrono::Utc::now() + chrono::Duration::minutes(45)));
        let report = later.run_worker_pass().await.unwrap();
        assert_eq!(report.card_links.saved, 1, "{:?}", report.card_links);
        let cards = s.list_cards(&c.desk, c.patient).await.unwrap();
        assert_eq!((cards.len(), cards[0].country.as_deref()), (1, Some("CA")), "with what the desk typed");
        assert_eq!(later.run_worker_pass().await.unwrap().card_links.saved, 0, "once");
        // The desk coming back to it saves nothing twice.
        assert!(desk_page(&s, &c, page.id, PageEnd::ReachedDone).await.unwrap().is_none());
        assert_eq!(s.list_cards(&c.desk, c.patient).await.unwrap().len(), 1);

        // A page left open with no card is ended at Stripe, so nobody can type on it later.
        let left = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        assert_eq!(s.run_worker_pass().await.unwrap().card_links.expired, 0, "the desk's for 40 minutes");
        let much_later = c.with_clock(FixedClock(chrono::Utc::now() + chrono::Duration::minutes(90)));
        assert_eq!(much_later.run_worker_pass().await.unwrap().card_links.expired, 1);
        assert!(c.sim.complete_checkout_setup(&session_of(&left.url), "4242424242424242", 12, 2030).is_err());
    }

    async fn a_patient_who_completes_a_secure_card_link_has_the_card_saved_and_their_recovery_order_paid(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, Gateway::Stripe).await;
        with_mail(&c, &smtp).await;
        let s = c.with_clock(SystemClock);
        // The default card attaches but the bank declines its charges: the plan's cycle goes to recovery.
        let declining = c.add(Gateway::Stripe, "4000000000000341").await.unwrap();
        s.create_subscription(&c.desk, c.patient, "Wellness", Money::from_minor(4_900, Currency::USD), "month").await.unwrap();
        s.run_worker_pass().await.unwrap();
        let order = s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!(order.recovery_status, Some(RecoveryStatus::RetryScheduled), "{:?}", order.last_message);

        // The billing manager sends a link for the order; the patient gets it by email.
        let link = s.create_card_link(&c.manager, c.patient, Some(order.id), true).await.unwrap();
        assert_eq!(link.status, CardLinkStatus::Open);
        assert_eq!(link.sent_to.as_deref(), Some("john@example.com"));
        assert_eq!(link.order_id, Some(order.id));
        let hours = (link.expires_at - chrono::Utc::now()).num_minutes() as f64 / 60.0;
        assert!((23.9..=24.0).contains(&hours), "Stripe's longest, by Stripe's clock: {hours}");
        let mails = smtp.messages();
        assert_eq!(mails.len(), 1);
        assert!(mails[0].contains("Subject: Save your card with Riverside Clinic"), "{}", mails[0]);
        let url = link_in(&mails[0]);
        assert_eq!(Some(url.as_str()), link.url.as_deref());

        // Nothing happens until the patient completes the page.
        assert_eq!(s.run_worker_pass().await.unwrap().card_links.saved, 0);
        c.sim.complete_checkout_setup(&session_of(&url), "4242424242424242", 12, 2030).unwrap();
        let report = s.run_worker_pass().await.unwrap();
        assert_eq!((report.card_links.saved, report.card_links.recovery_paid), (1, 1), "{:?}", report.card_links);

        let order = s.list_orders(&c.desk, Some(c.patient), None).await.unwrap().remove(0);
        assert_eq!((order.status, order.recovery_status), (OrderStatus::Paid, Some(RecoveryStatus::Resolved)));
        let cards = s.list_cards(&c.desk, c.patient).await.unwrap();
        let new = cards.iter().find(|x| x.last4 == "4242").expect("the card from the link");
        assert!(new.is_default && cards.iter().any(|x| x.id == declining.card.id && !x.is_default), "the card that paid became the default");
        assert_eq!(c.charged_at(Gateway::Stripe), vec![4_900]);

        let links = s.card_links(&c.desk, c.patient).await.unwrap();
        assert_eq!((links.len(), links[0].status, links[0].card_id), (1, CardLinkStatus::Completed, Some(new.id)));
        assert!(links[0].url.is_none(), "a used link is not shown again");
        let log = s.patient_profile(&c.desk, c.patient).await.unwrap().activity;
        assert!(log.iter().any(|a| a.action == "card_link.sent" && a.actor == "manager"), "{log:?}");
        assert!(log.iter().any(|a| a.action == "card.added" && a.actor == "the patient, through a secure card link"), "{log:?}");
    }

    async fn with_update_link_secure_card_link_each_email_to_the_patient_carries_a_fresh_link(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, Gateway::Stripe).await;
        with_mail(&c, &smtp).await;
        c.s.set_setting(&c.it, "reminders.update-link", "secure-card-link").await.unwrap();
        c.s.set_setting(&c.manager, "recovery.emails", "true").await.unwrap();
        let s = c.with_clock(SystemClock);
        c.add(Gateway::Stripe, "4000000000000341").await.unwrap();
        s.create_subscription(&c.desk, c.patient, "Wellness", Money::from_minor(4_900, Currency::USD), "month").await.unwrap();
        // The pass that declines the plan's charge sends the first failure notice, with a link in it.
        let pass = s.run_worker_pass().await.unwrap();
        assert_eq!(pass.notices.sent, 1, "{:?}", pass.notices);
        let mails = smtp.messages();
        let url = link_in(&mails[0]);
        assert!(url.contains("/stripe/checkout/cs_test_"), "{url}");
        let links = s.card_links(&c.desk, c.patient).await.unwrap();
        assert_eq!((links.len(), links[0].sent_to.as_deref(), links[0].order_id.is_some()), (1, Some("john@example.com"), true));
        assert!(s.patient_profile(&c.desk, c.patient).await.unwrap().activity.iter()
            .any(|a| a.action == "card_link.created" && a.actor == "ClinicPay, for an email to the patient"));

        // The patient uses it: the next pass saves the card and the order is paid.
        c.sim.complete_checkout_setup(&session_of(&url), "4242424242424242", 12, 2030).unwrap();
        let pass = s.run_worker_pass().await.unwrap();
        assert_eq!((pass.card_links.saved, pass.card_links.recovery_paid), (1, 1), "{:?}", pass.card_links);

    }

    async fn a_card_saved_on_a_link_the_clinic_can_no_longer_keep_is_taken_off_stripe(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let done = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap();
        let open = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap();
        c.sim.complete_checkout_setup(&done.session, "4242424242424242", 12, 2030).unwrap();
        assert_eq!(c.sim.stripe_attached_cards(), 1, "Stripe saved it to the patient's customer");
        // The clinic moves to NMI before the engine looks.
        s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let pass = s.run_worker_pass().await.unwrap();
        assert_eq!((pass.card_links.saved, pass.card_links.failed, pass.card_links.expired), (0, 1, 1), "{:?}", pass.card_links);
        assert!(s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());
        assert_eq!(c.sim.stripe_attached_cards(), 0, "not kept here, so not left chargeable at Stripe");
        let links = s.card_links(&c.desk, c.patient).await.unwrap();
        let by_id = |id| links.iter().find(|l| l.id == id).unwrap();
        assert_eq!(by_id(done.id).status, CardLinkStatus::Failed);
        assert!(by_id(done.id).outcome.as_deref().unwrap().contains("NMI"), "{:?}", by_id(done.id).outcome);
        assert_eq!(by_id(open.id).status, CardLinkStatus::Expired, "an open link is withdrawn");
        assert!(c.sim.complete_checkout_setup(&open.session, "4242424242424242", 12, 2030).is_err());
    }

    async fn a_desk_page_the_engine_finishes_does_not_save_a_card_the_desk_saved_again_meanwhile(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        c.sim.complete_checkout_setup(&session_of(&page.url), "4242424242424242", 12, 2030).unwrap();
        // The desk locked before the page said so; the person typed the same card again.
        c.add(Gateway::Stripe, "4242424242424242").await.unwrap();
        let later = c.with_clock(FixedClock(chrono::Utc::now() + chrono::Duration::minutes(45)));
        later.run_worker_pass().await.unwrap();
        assert_eq!(s.list_cards(&c.desk, c.patient).await.unwrap().len(), 1, "one card, not two");
        assert_eq!(c.sim.stripe_attached_cards(), 1, "the page's copy is taken off Stripe");
    }

    async fn only_someone_who_may_manage_cards_sees_an_open_links_address(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        s.create_card_link(&c.desk, c.patient, None, false).await.unwrap();
        assert!(s.card_links(&c.desk, c.patient).await.unwrap()[0].url.is_some());
        assert!(s.card_links(&c.it, c.patient).await.unwrap()[0].url.is_none());
        assert!(s.patient_profile(&c.it, c.patient).await.unwrap().card_links[0].url.is_none());
    }

    async fn a_link_that_runs_out_is_shown_expired_and_saves_nothing(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let link = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap();
        assert!(link.sent_to.is_none() && link.url.is_some());
        c.sim.run_out_checkout_session(&link.session);
        assert_eq!(s.run_worker_pass().await.unwrap().card_links.expired, 1);
        let links = s.card_links(&c.desk, c.patient).await.unwrap();
        assert_eq!(links[0].status, CardLinkStatus::Expired);
        assert!(s.list_cards(&c.desk, c.patient).await.unwrap().is_empty());
    }

    async fn a_link_that_cannot_be_made_or_emailed_says_why_and_leaves_nothing_open(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        // No mail server: said before any page exists.
        let e = s.create_card_link(&c.desk, c.patient, None, true).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
        assert!(e.to_string().contains("No mail server"), "{e}");
        // A mail server that refuses: the page made for it is withdrawn at Stripe.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let smtp = SmtpServer::start_on(port);
        with_mail(&c, &smtp).await;
        drop(smtp);
        let e = s.create_card_link(&c.desk, c.patient, None, true).await.unwrap_err();
        assert!(e.to_string().contains("link was withdrawn"), "{e}");
        let links = s.card_links(&c.desk, c.patient).await.unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].status, CardLinkStatus::Expired);
        assert!(c.sim.complete_checkout_setup(&links[0].session, "4242424242424242", 12, 2030).is_err(), "it takes no card");

        // A clinic on NMI: Stripe only, said plainly.
        s.set_setting(&c.manager, "gateway", "nmi").await.unwrap();
        let e = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap_err();
        assert!(e.to_string().contains("Enter the card at the desk"), "{e}");
        let e = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput);
    }

    async fn a_live_clinic_names_the_page_patients_land_on_before_it_sends_links(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        // The simulator's address stands in for Stripe's; a live address has no page of ours to land on.
        s.set_setting(&c.it, "stripe.api-base", "default").await.unwrap();
        let e = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap_err();
        assert!(e.to_string().contains("card-link.return-url"), "{e}");
        let e = s.set_setting(&c.manager, "card-link.return-url", "https://riverside.example/saved").await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::PermissionDenied, "where patients are sent is IT's");
        assert!(s.set_setting(&c.it, "card-link.return-url", "http://riverside.example/saved").await.is_err(), "https only");
    }

    async fn front_desk_cannot_withdraw_what_another_desk_opened(db: &TestDb) {
        let c = clinic(db, Gateway::Stripe).await;
        let s = c.with_clock(SystemClock);
        let page = s.begin_card_page(&c.desk, c.patient, details()).await.unwrap();
        let e = s.card_from_page(&c.manager, page.id, PageEnd::Closed, |_| async { Ok(((), None)) }).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotFound);
        let link = s.create_card_link(&c.desk, c.patient, None, false).await.unwrap();
        let e = s.card_from_page(&c.desk, link.id, PageEnd::ReachedDone, |_| async { Ok(((), None)) }).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotFound, "a link is the patient's to complete, not a desk's");
    }
}
