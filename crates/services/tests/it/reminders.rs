//! Card expiry reminders (document 000 "Expiry Notifications", document 003 "Expiring Card Reminders")
//! and the expiring-cards dashboard, sent through a real SMTP server (aiosmtpd) and read back from its
//! mailbox, on SQLite and PostgreSQL.

use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use clinicpay_domain::*;
use clinicpay_services::reminders::ExpiringFilter;
use clinicpay_services::{Actor, Services};
use clinicpay_store::payment_methods;
use clinicpay_testkit::{on_both_databases, SmtpServer, TestDb};

use crate::support::{staff, Staff};

fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
}

struct Clinic {
    db_store: clinicpay_store::Store,
    manager: Actor,
    desk: Actor,
}

impl Clinic {
    fn at(&self, when: DateTime<Utc>) -> Services {
        Services::new(self.db_store.clone(), Arc::new(FixedClock(when)))
    }
}

/// A clinic whose reminders go to `smtp_port` on this computer, enabled unless told otherwise.
async fn clinic(db: &TestDb, smtp_port: u16, enabled: bool) -> Clinic {
    let s = Services::new(db.store.clone(), Arc::new(FixedClock(at(2026, 11, 23))));
    let Staff { it, manager, desk } = staff(&s).await;
    for (k, v) in [
        ("clinic-name", "Riverside Clinic".to_owned()),
        ("smtp.host", "127.0.0.1".into()),
        ("smtp.port", smtp_port.to_string()),
        ("smtp.security", "none".into()),
        (
            "smtp.from",
            "Riverside Clinic <billing@riverside.example>".into(),
        ),
        (
            "reminders.update-link",
            "https://portal.riverside.example/cards?patient={patient}".into(),
        ),
        ("reminders.enabled", enabled.to_string()),
    ] {
        let who = if k.starts_with("smtp.") || k == "reminders.update-link" {
            &it
        } else {
            &manager
        };
        s.set_setting(who, k, &v).await.unwrap();
    }
    Clinic {
        db_store: db.store.clone(),
        manager,
        desk,
    }
}

/// A patient with one NMI card expiring at the end of `month`/`year`.
async fn patient_with_card(
    c: &Clinic,
    name: &str,
    kind: PatientType,
    month: u32,
    year: i32,
) -> (PatientId, PaymentMethodId) {
    patient_with_gateway_card(c, name, kind, month, year, Gateway::Nmi).await
}

async fn patient_with_gateway_card(
    c: &Clinic,
    name: &str,
    kind: PatientType,
    month: u32,
    year: i32,
    gateway: Gateway,
) -> (PatientId, PaymentMethodId) {
    let s = c.at(at(2026, 11, 23));
    let email = format!("{}@example.com", name.to_lowercase().replace(' ', "."));
    let p = s
        .add_patient(
            &c.desk,
            NewPatient {
                name: name.into(),
                email,
                phone: None,
                patient_type: kind,
            },
        )
        .await
        .unwrap();
    let card = save_card(c, p.id, name, gateway, (month, year), true).await;
    (p.id, card)
}

/// A Visa card saved for `patient` (its token made from `name`), the default or not.
async fn save_card(
    c: &Clinic,
    patient: PatientId,
    name: &str,
    gateway: Gateway,
    (month, year): (u32, i32),
    is_default: bool,
) -> PaymentMethodId {
    let mut tx = c.db_store.begin().await.unwrap();
    let card = payment_methods::insert(
        &mut tx,
        patient,
        &NewCard {
            gateway,
            token: format!("vault-{}", name.replace(' ', "")),
            brand: CardBrand::Visa,
            last4: "4242".into(),
            expiry: CardExpiry::new(month, year).unwrap(),
            cardholder_name: name.into(),
            nickname: None,
            country: Some("US".into()),
            fingerprint: None,
        },
        is_default,
        at(2026, 1, 5),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    card.id
}

/// A delivered message with its quoted-printable body decoded enough to read (soft breaks, "=").
fn readable(mail: &str) -> String {
    mail.replace("=\r\n", "")
        .replace("=\n", "")
        .replace("=3D", "=")
}

fn subjects(smtp: &SmtpServer) -> Vec<String> {
    let mut s: Vec<String> = smtp
        .messages()
        .iter()
        .filter_map(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(str::to_owned))
        })
        .collect();
    s.sort();
    s
}

on_both_databases! {
    async fn each_threshold_goes_once_including_a_card_expiring_today_and_one_already_expired(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), true).await;
        let (ann, _) = patient_with_card(&c, "Ann Lee", PatientType::Individual, 1, 2027).await;
        patient_with_card(&c, "Bob Old", PatientType::Individual, 10, 2026).await;

        // 23 Nov: Ann's card has 69 days; Bob's expired 23 days ago and gets the at-expiry email.
        let first = c.at(at(2026, 11, 23)).run_reminders().await.unwrap();
        assert_eq!((first.sent, first.failed), (1, 0), "{first:?}");
        assert_eq!(subjects(&smtp), ["Your Visa ending in 4242 has expired"]);

        // Each threshold of Ann's card, once: 60 days, 30, 7, and the day it expires.
        for (day, want) in [
            (at(2026, 12, 2), "Your Visa ending in 4242 expires in 60 days"),
            (at(2027, 1, 1), "Your Visa ending in 4242 expires in 30 days"),
            (at(2027, 1, 24), "Your Visa ending in 4242 expires in 7 days"),
            (at(2027, 1, 31), "Your Visa ending in 4242 expires today"),
        ] {
            let report = c.at(day).run_reminders().await.unwrap();
            assert_eq!(report.sent, 1, "{day}: {report:?}");
            assert!(subjects(&smtp).contains(&want.to_owned()), "{day}: {:?}", subjects(&smtp));
            // The same day again, or the next: nothing new.
            assert_eq!(c.at(day).run_reminders().await.unwrap().sent, 0);
        }
        assert_eq!(c.at(at(2027, 2, 3)).run_reminders().await.unwrap().sent, 0, "no second at-expiry email");
        assert_eq!(smtp.messages().len(), 5);

        // The message: the patient's name, brand and last four, expiry, and the update link.
        let mail = readable(&smtp.messages().into_iter().find(|m| m.contains("expires in 7 days")).unwrap());
        assert!(mail.contains("To: \"Ann Lee\" <ann.lee@example.com>"), "{mail}");
        assert!(mail.contains("Hello Ann Lee"), "{mail}");
        assert!(mail.contains("The Visa ending in 4242 you keep on file with Riverside Clinic expires at the end of 01/2027"), "{mail}");
        assert!(mail.contains(&format!("https://portal.riverside.example/cards?patient={ann}")), "{mail}");
        // Every send is in the activity log.
        let log = c.at(at(2027, 2, 3)).patient_profile(&c.desk, ann).await.unwrap().activity;
        assert_eq!(log.iter().filter(|e| e.action == "reminder.sent").count(), 4);
    }

    async fn a_card_that_pays_a_plan_and_has_expired_gets_one_your_card_has_expired_email(db: &TestDb) {
        // Document 000: after the at-expiry notice, "your card has expired" when services depend on it.
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), true).await;
        let (ann, _) = patient_with_card(&c, "Ann Plan", PatientType::Individual, 11, 2026).await;
        patient_with_card(&c, "Cy Noplan", PatientType::Individual, 11, 2026).await;
        c.at(at(2026, 11, 23)).create_subscription(&c.desk, ann, "Wellness", Money::from_minor(4_900, Currency::USD), "month").await.unwrap();
        // 30 November, the last valid day: both get "expires today".
        assert_eq!(c.at(at(2026, 11, 30)).run_reminders().await.unwrap().sent, 2);
        // 2 December: Ann's card has expired and pays a plan, and she has no other card: one more email.
        let after = c.at(at(2026, 12, 2)).run_reminders().await.unwrap();
        assert_eq!(after.sent, 1, "{after:?}");
        let expired: Vec<String> = smtp.messages().into_iter().filter(|m| m.contains("has expired")).collect();
        assert_eq!(expired.len(), 1);
        assert!(expired[0].contains("ann.plan@example.com"), "to Ann, not Cy: {}", expired[0]);
        assert_eq!(c.at(at(2026, 12, 9)).run_reminders().await.unwrap().sent, 0, "once");
    }

    async fn two_workers_at_the_same_moment_send_each_reminder_once(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), true).await;
        for i in 0..6 {
            patient_with_card(&c, &format!("Pat Number{i}"), PatientType::Individual, 12, 2026).await;
        }
        let (a, b) = (c.at(at(2026, 11, 25)), c.at(at(2026, 11, 25)));
        let (ra, rb) = tokio::join!(a.run_reminders(), b.run_reminders());
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.sent + rb.sent, 6, "{ra:?} {rb:?}");
        assert_eq!(ra.skipped + rb.skipped, 6, "the other worker skipped what was claimed");
        assert_eq!(smtp.messages().len(), 6);
    }

    async fn nothing_goes_out_while_reminders_are_disabled(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        patient_with_card(&c, "Dee Off", PatientType::Individual, 12, 2026).await;
        let report = c.at(at(2026, 11, 25)).run_reminders().await.unwrap();
        assert_eq!(report.sent, 0);
        assert!(report.note.unwrap().contains("disabled"));
        assert!(smtp.messages().is_empty());
        // The worker pass runs them too, and says why nothing went.
        assert!(c.at(at(2026, 11, 25)).run_worker_pass().await.unwrap().reminders.note.is_some());
    }

    async fn a_send_the_mail_server_refuses_is_kept_shown_and_retried(db: &TestDb) {
        // The mail server is down at first: nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let c = clinic(db, port, true).await;
        let (p, _) = patient_with_card(&c, "Eli Retry", PatientType::Individual, 12, 2026).await;
        let down = c.at(at(2026, 11, 25)).run_reminders().await.unwrap();
        assert_eq!((down.sent, down.failed), (0, 1));
        let shown = c.at(at(2026, 11, 25)).list_reminders(&c.manager, Some(p)).await.unwrap();
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].status, "failed");
        assert!(shown[0].last_error.is_some());

        // Up again: the next pass after the back-off sends it, once.
        let smtp = SmtpServer::start_on(port);
        assert_eq!(c.at(at(2026, 11, 25)).run_reminders().await.unwrap().sent, 0, "not before its retry time");
        let later = c.at(at(2026, 11, 25) + chrono::Duration::minutes(6)).run_reminders().await.unwrap();
        assert_eq!(later.sent, 1, "{later:?}");
        assert_eq!(smtp.messages().len(), 1);
        let shown = c.at(at(2026, 11, 26)).list_reminders(&c.manager, Some(p)).await.unwrap();
        assert_eq!((shown[0].status.as_str(), shown[0].attempts), ("sent", 2));
    }

    async fn the_dashboard_filters_by_window_expired_and_business_and_names_dependent_plans(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let (ann, _) = patient_with_card(&c, "Ann Soon", PatientType::Individual, 12, 2026).await;
        patient_with_card(&c, "Acme Corp", PatientType::Business, 1, 2027).await;
        patient_with_card(&c, "Cal Later", PatientType::Individual, 4, 2027).await;
        patient_with_card(&c, "Old Expired", PatientType::Individual, 9, 2026).await;
        let s = c.at(at(2026, 11, 23));
        s.create_subscription(&c.desk, ann, "Physio monthly", Money::from_minor(4_900, Currency::USD), "month").await.unwrap();

        let names = |f: ExpiringFilter| {
            let s = c.at(at(2026, 11, 23));
            let desk = c.desk.clone();
            async move {
                s.expiring_cards(&desk, &f).await.unwrap().cards.into_iter().map(|x| x.patient_name).collect::<Vec<_>>()
            }
        };
        // Acme's card lasts to 31 January: 69 days, outside the default 60.
        assert_eq!(names(ExpiringFilter::default()).await, ["Ann Soon"], "60 days by default");
        assert_eq!(names(ExpiringFilter { within_days: Some(90), ..Default::default() }).await, ["Ann Soon", "Acme Corp"]);
        assert!(names(ExpiringFilter { within_days: Some(30), ..Default::default() }).await.is_empty(), "Ann has 38 days");
        assert_eq!(names(ExpiringFilter { within_days: Some(180), ..Default::default() }).await, ["Ann Soon", "Acme Corp", "Cal Later"]);
        assert_eq!(names(ExpiringFilter { expired: true, ..Default::default() }).await, ["Old Expired"]);
        assert_eq!(
            names(ExpiringFilter { within_days: Some(90), patient_type: Some(PatientType::Business), ..Default::default() }).await,
            ["Acme Corp"]
        );
        let dash = s.expiring_cards(&c.desk, &ExpiringFilter { within_days: Some(90), ..Default::default() }).await.unwrap();
        let ann_row = &dash.cards[0];
        assert_eq!((ann_row.expiry.as_str(), ann_row.days_until_expiry, ann_row.has_other_valid_card), ("12/2026", 38, false));
        assert_eq!(ann_row.plans, ["Physio monthly"]);
        assert!(dash.cards[1].plans.is_empty());
    }

    async fn the_dashboard_filters_by_the_service_that_needs_the_card(db: &TestDb) {
        // Document 000: "Service Type - Filter by service requiring payment method".
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let (ann, _) = patient_with_card(&c, "Ann Physio", PatientType::Individual, 12, 2026).await;
        let (bo, _) = patient_with_card(&c, "Bo Yoga", PatientType::Individual, 12, 2026).await;
        let (cy, _) = patient_with_card(&c, "Cy Both", PatientType::Individual, 1, 2027).await;
        patient_with_card(&c, "Di None", PatientType::Individual, 12, 2026).await;
        let (ed, _) = patient_with_card(&c, "Ed Ended", PatientType::Individual, 12, 2026).await;
        let s = c.at(at(2026, 11, 23));
        let usd = |m| Money::from_minor(m, Currency::USD);
        s.create_subscription(&c.desk, ann, "Physio monthly", usd(4_900), "month").await.unwrap();
        s.create_subscription(&c.desk, bo, "Yoga weekly", usd(1_500), "week").await.unwrap();
        s.create_subscription(&c.desk, cy, "Physio monthly", usd(4_900), "month").await.unwrap();
        s.create_subscription(&c.desk, cy, "Yoga weekly", usd(1_500), "week").await.unwrap();
        let ended = s.create_subscription(&c.desk, ed, "Physio monthly", usd(4_900), "month").await.unwrap();
        let mut tx = c.db_store.begin().await.unwrap();
        let cancelled = clinicpay_store::subscriptions::set_subscription_status(&mut tx, ended.id, SubscriptionStatus::Active, SubscriptionStatus::Cancelled, at(2026, 11, 23)).await.unwrap();
        tx.commit().await.unwrap();
        assert!(cancelled);

        let of = |service: &str| {
            let s = c.at(at(2026, 11, 23));
            let desk = c.desk.clone();
            let f = ExpiringFilter { within_days: Some(90), service: Some(service.into()), ..Default::default() };
            async move { s.expiring_cards(&desk, &f).await.map(|d| d.cards.into_iter().map(|x| x.patient_name).collect::<Vec<_>>()) }
        };
        assert_eq!(of("Physio monthly").await.unwrap(), ["Ann Physio", "Cy Both"], "a cancelled plan needs no card");
        assert_eq!(of("Yoga weekly").await.unwrap(), ["Bo Yoga", "Cy Both"]);
        let dash = s.expiring_cards(&c.desk, &ExpiringFilter::default()).await.unwrap();
        assert_eq!(dash.services, ["Physio monthly", "Yoga weekly"], "the filter's choices");
        let unknown = of("Pilates").await.unwrap_err();
        assert_eq!(unknown.code(), clinicpay_services::ErrorCode::NotFound);
        assert!(unknown.to_string().contains("use one of Physio monthly, Yoga weekly"), "{unknown}");
    }

    async fn the_dashboards_filters_follow_a_patients_type_default_card_renewal_and_removal(db: &TestDb) {
        // The type and service filters read copies kept beside the cards and plans (migration 0028):
        // each change staff, the card networks or the gateways make must reach them.
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let (ann, first) = patient_with_card(&c, "Ann Physio", PatientType::Individual, 12, 2026).await;
        let s = c.at(at(2026, 11, 23));
        let usd = |m| Money::from_minor(m, Currency::USD);
        s.create_subscription(&c.desk, ann, "Physio monthly", usd(4_900), "month").await.unwrap();
        s.create_subscription(&c.desk, ann, "Physio monthly", usd(2_500), "month").await.unwrap();
        let shown = |f: ExpiringFilter| {
            let s = c.at(at(2026, 11, 23));
            let desk = c.desk.clone();
            async move {
                s.expiring_cards(&desk, &f).await.unwrap().cards.into_iter().map(|x| (x.patient_name, x.card_id)).collect::<Vec<_>>()
            }
        };
        let business = || ExpiringFilter { within_days: Some(90), patient_type: Some(PatientType::Business), ..Default::default() };
        let physio = || ExpiringFilter { within_days: Some(90), service: Some("Physio monthly".into()), ..Default::default() };
        let ann_ = |card| ("Ann Physio".to_owned(), card);
        assert_eq!(shown(physio()).await, [ann_(first)], "listed once though she has the plan twice");
        assert!(shown(business()).await.is_empty());

        // The clinic books Ann as a business: her card follows.
        let as_business = NewPatient { name: "Ann Physio".into(), email: "ann.physio@example.com".into(), phone: None, patient_type: PatientType::Business };
        s.update_patient(&c.desk, ann, as_business).await.unwrap();
        assert_eq!(shown(business()).await, [ann_(first)]);

        // A second card expiring in January becomes her default: the plan follows it.
        let second = save_card(&c, ann, "Ann Physio second", Gateway::Nmi, (1, 2027), false).await;
        assert_eq!(shown(business()).await, [ann_(first), ann_(second)], "a new card takes its patient's type");
        s.set_default_card(&c.desk, second).await.unwrap();
        assert_eq!(shown(physio()).await, [ann_(second)]);

        // The card network renews it to 2030: nothing the plan needs expires within 90 days.
        let mut tx = c.db_store.begin().await.unwrap();
        let renewal = NetworkUpdate { brand: CardBrand::Visa, last4: "4242".into(), expiry: CardExpiry::new(3, 2030).unwrap(), new_number: false };
        payment_methods::apply_network_update(&mut tx, second, &renewal, at(2026, 11, 23)).await.unwrap();
        tx.commit().await.unwrap();
        assert!(shown(physio()).await.is_empty());
        // The dashboard also checks each card's own month, so ask the plans' index itself too.
        let mut r = c.db_store.reader().await.unwrap();
        let by_plan = clinicpay_store::reminders::expiring(&mut r, (2026, 11), (2027, 2), (2026, 11), None, Some("Physio monthly"), None, 100).await.unwrap();
        assert!(by_plan.is_empty(), "the plan's copy follows the renewal: {by_plan:?}");
        drop(r);
        assert_eq!(shown(business()).await, [ann_(first)]);

        // The first card is her default again, then removed: the plan has no card left to list.
        s.set_default_card(&c.desk, first).await.unwrap();
        assert_eq!(shown(physio()).await, [ann_(first)]);
        let mut tx = c.db_store.begin().await.unwrap();
        payment_methods::remove(&mut tx, first, at(2026, 11, 23)).await.unwrap();
        tx.commit().await.unwrap();
        assert!(shown(physio()).await.is_empty());
        assert!(shown(business()).await.is_empty());

        // A plan made before its patient has a card follows the first card saved as default.
        let bo = s.add_patient(&c.desk, NewPatient { name: "Bo Later".into(), email: "bo@example.com".into(), phone: None, patient_type: PatientType::Individual }).await.unwrap().id;
        s.create_subscription(&c.desk, bo, "Physio monthly", usd(4_900), "month").await.unwrap();
        let bos = save_card(&c, bo, "Bo Later", Gateway::Nmi, (12, 2026), true).await;
        assert_eq!(shown(physio()).await, [("Bo Later".to_owned(), bos)]);
    }

    async fn the_window_pages_through_every_card_once_in_the_dashboards_order_under_each_filter(db: &TestDb) {
        // The window asks for a page at a time and "Show more" goes on after its last card: together the
        // pages are the whole list, in order, under every filter, and the last page says there is no more.
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let s = c.at(at(2026, 11, 23));
        let usd = Money::from_minor(4_900, Currency::USD);
        let months = [(12, 2026), (1, 2027), (12, 2026), (1, 2027), (12, 2026), (2, 2027), (1, 2027), (12, 2026)];
        for (n, (month, year)) in months.into_iter().enumerate() {
            let kind = if n % 2 == 0 { PatientType::Business } else { PatientType::Individual };
            let (p, _) = patient_with_card(&c, &format!("Pat {n}"), kind, month, year).await;
            if n % 3 != 1 {
                s.create_subscription(&c.desk, p, "Physio monthly", usd, "month").await.unwrap();
            }
        }
        let filters = [
            ("default: 60 days, so January's cards (69 days) are outside", ExpiringFilter::default()),
            ("90 days", ExpiringFilter { within_days: Some(90), ..Default::default() }),
            ("business", ExpiringFilter { within_days: Some(90), patient_type: Some(PatientType::Business), ..Default::default() }),
            ("one service", ExpiringFilter { within_days: Some(90), service: Some("Physio monthly".into()), ..Default::default() }),
        ];
        for (name, filter) in filters {
            let whole = s.expiring_cards(&c.desk, &filter).await.unwrap();
            assert!(whole.next.is_none() && !whole.truncated, "{name}: the CLI's list is one piece");
            let whole: Vec<_> = whole.cards.into_iter().map(|x| x.card_id).collect();
            assert!(whole.len() >= 3, "{name}: enough cards for pages of two: {whole:?}");
            let mut paged = Vec::new();
            let mut page = ExpiringFilter { page_size: Some(2), ..filter.clone() };
            for _ in 0..10 {
                let got = s.expiring_cards(&c.desk, &page).await.unwrap();
                assert!(got.cards.len() <= 2, "{name}: a page holds at most its size");
                assert!(!got.cards.is_empty(), "{name}: no page is empty (a Show more that shows nothing)");
                paged.extend(got.cards.iter().map(|x| x.card_id));
                assert_eq!(got.truncated, got.next.is_some(), "{name}");
                match got.next {
                    Some(next) => {
                        assert_eq!(next.card_id, got.cards.last().unwrap().card_id, "{name}: the next page starts after the last card shown");
                        page.after = Some(next);
                    }
                    None => break,
                }
            }
            assert_eq!(paged, whole, "{name}: the pages are the whole list, each card once, in order");
        }
        let default = s.expiring_cards(&c.desk, &ExpiringFilter::default()).await.unwrap();
        assert_eq!(default.cards.len(), 4, "December's four: {:?}", default.cards);
        // The Service Type choices: the plans someone still has, a plan only cancelled left out.
        let (p, _) = patient_with_card(&c, "Pat Ended", PatientType::Individual, 12, 2026).await;
        let ended = s.create_subscription(&c.desk, p, "Ended plan", usd, "month").await.unwrap();
        s.create_subscription(&c.desk, p, "Acupuncture", usd, "month").await.unwrap();
        let mut tx = c.db_store.begin().await.unwrap();
        clinicpay_store::subscriptions::set_subscription_status(&mut tx, ended.id, SubscriptionStatus::Active, SubscriptionStatus::Cancelled, at(2026, 11, 23)).await.unwrap();
        tx.commit().await.unwrap();
        let services = s.expiring_cards(&c.desk, &ExpiringFilter::default()).await.unwrap().services;
        assert_eq!(services, ["Acupuncture", "Physio monthly"]);
        for size in [0, 5_001] {
            let refused = s.expiring_cards(&c.desk, &ExpiringFilter { page_size: Some(size), ..Default::default() }).await.unwrap_err();
            assert!(refused.to_string().contains("1 to 5000"), "{refused}");
        }
    }

    async fn notify_sends_now_once_a_day_and_the_front_desk_may_not(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let (_, card) = patient_with_card(&c, "Noa Notify", PatientType::Individual, 3, 2027).await;
        let s = c.at(at(2026, 11, 23));
        let refused = s.notify_cards(&c.desk, &[card]).await.unwrap_err();
        assert_eq!(refused.code(), clinicpay_services::ErrorCode::PermissionDenied);
        let sent = s.notify_cards(&c.manager, &[card]).await.unwrap();
        assert_eq!(sent.sent, 1, "Notify works even with automatic reminders off");
        assert_eq!(s.notify_cards(&c.manager, &[card]).await.unwrap().skipped, 1, "once a day");
        assert_eq!(c.at(at(2026, 11, 24)).notify_cards(&c.manager, &[card]).await.unwrap().sent, 1);
        assert_eq!(smtp.messages().len(), 2);
        assert!(subjects(&smtp).iter().all(|s| s.contains("expires in")), "{:?}", subjects(&smtp));
    }

    async fn before_a_gateway_switch_the_manager_sees_who_would_break_and_can_ask_them_to_resave(db: &TestDb) {
        let smtp = SmtpServer::start();
        let c = clinic(db, smtp.port(), false).await;
        let s = c.at(at(2026, 11, 23));
        // Ann: a subscription and only a Stripe card. Ben: an unpaid invoice and an NMI card (fine).
        // Cy: an unpaid invoice and no card at all. Dee: a Stripe card but nothing to pay (fine).
        let (ann, _) = patient_with_gateway_card(&c, "Ann Stripe", PatientType::Individual, 5, 2028, Gateway::Stripe).await;
        let sub = s.create_subscription(&c.desk, ann, "Physio monthly", Money::from_minor(4_900, Currency::USD), "month").await.unwrap();
        let (ben, _) = patient_with_gateway_card(&c, "Ben Nmi", PatientType::Individual, 5, 2028, Gateway::Nmi).await;
        s.create_invoice(&c.desk, ben, Money::from_minor(2_000, Currency::USD), "Visit").await.unwrap();
        let cy = s.add_patient(&c.desk, NewPatient { name: "Cy Nocard".into(), email: "cy@example.com".into(), phone: None, patient_type: PatientType::Individual }).await.unwrap().id;
        s.create_invoice(&c.desk, cy, Money::from_minor(3_000, Currency::USD), "Visit").await.unwrap();
        patient_with_gateway_card(&c, "Dee Idle", PatientType::Individual, 5, 2028, Gateway::Stripe).await;
        let mut tx = c.db_store.begin().await.unwrap();
        clinicpay_store::subscriptions::lock_subscription_gateway(&mut tx, sub.id, Gateway::Stripe).await.unwrap();
        tx.commit().await.unwrap();

        let r = s.gateway_readiness(&c.manager, Gateway::Nmi).await.unwrap();
        let names: Vec<(&str, bool)> = r.patients_without_card.iter().map(|p| (p.name.as_str(), p.has_any_card)).collect();
        assert_eq!(names, [("Ann Stripe", true), ("Cy Nocard", false)]);
        assert_eq!(r.locked_subscriptions.iter().map(|l| (l.plan.as_str(), l.locked_gateway)).collect::<Vec<_>>(), [("Physio monthly", Gateway::Stripe)]);
        assert!(r.message.starts_with("2 patients with a subscription or an unpaid invoice have no valid card for NMI"), "{}", r.message);

        // The bulk email: Ann gets one; Cy has no card to name and is left for a call; once a day.
        let sent = s.request_card_resave(&c.manager, Gateway::Nmi).await.unwrap();
        assert_eq!((sent.sent, sent.skipped), (1, 1), "{sent:?}");
        assert_eq!(subjects(&smtp), ["Please re-save your card with Riverside Clinic"]);
        let mail = readable(&smtp.messages()[0]);
        assert!(mail.contains("ann.stripe@example.com") && mail.contains("Visa ending in 4242"), "{mail}");
        assert_eq!(s.request_card_resave(&c.manager, Gateway::Nmi).await.unwrap().sent, 0, "once a day");
        assert_eq!(s.request_card_resave(&c.desk, Gateway::Nmi).await.unwrap_err().code(), clinicpay_services::ErrorCode::PermissionDenied);
    }
}
