//! Issue 19, as a hostile insider and a curious desk user would try it: only the right person acts, and
//! secrets go only where IT says. Every refusal is a clear error that changes nothing.

use std::sync::Arc;

use crate::support::*;
use clinicpay_domain::*;
use clinicpay_gateways::Secret;
use clinicpay_services::credentials::Keychain;
use clinicpay_services::{ErrorCode, Services};
use clinicpay_testkit::{fingerprint, on_both_databases, TestDb};

on_both_databases! {
    async fn a_billing_manager_cannot_move_where_secrets_emails_or_updates_go(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let before = fingerprint(db).await;
        for (key, value) in [
            ("stripe.api-base", "https://stripe.evil.example"),
            ("nmi.api-base", "https://nmi.evil.example"),
            ("smtp.host", "mail.evil.example"),
            ("smtp.port", "25"),
            ("smtp.security", "none"),
            ("smtp.username", "me"),
            ("smtp.from", "Billing <billing@evil.example>"),
            ("updates.endpoint", "https://updates.evil.example"),
            ("updates.channel", "pilot"),
            // The account typed cards are tokenized into, and where the clinic's emails send patients.
            ("stripe.publishable-key", "pk_live_51Hmallory"),
            ("nmi.tokenization-key", "abc123-mallory-key-0001"),
            ("reminders.update-link", "https://evil.example/?p={patient}"),
            ("card-link.return-url", "https://evil.example/saved"),
            ("desk.lock-after-minutes", "0"),
        ] {
            let e = c.s.set_setting(&c.manager, key, value).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::PermissionDenied, "{key}: {e}");
            assert!(e.to_string().contains("IT does"), "{key}: {e}");
        }
        assert_eq!(fingerprint(db).await, before, "a refused change changes nothing");
        // The billing manager keeps the clinic's payment settings, and may shorten the lock.
        c.s.set_setting(&c.manager, "desk.lock-after-minutes", "3").await.unwrap();
        c.s.set_setting(&c.manager, "refunds.front-desk-limit", "50.00").await.unwrap();
        // IT may do what the billing manager may not.
        c.s.set_setting(&c.it, "desk.lock-after-minutes", "0").await.unwrap();
        c.s.set_setting(&c.it, "smtp.host", "mail.clinic.example").await.unwrap();
    }

    async fn a_live_clinic_sends_its_keys_over_https_and_to_the_host_it_names(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let before = fingerprint(db).await;
        for (value, says) in [
            // A prefix check would take this for this computer: it is evil.example, user "localhost".
            ("http://localhost:@evil.example", "user name or password"),
            ("https://api.stripe.com@evil.example/v1", "user name or password"),
            ("http://stripe.evil.example", "never sent in clear to stripe.evil.example"),
            ("http://127.0.0.1.evil.example", "never sent in clear to 127.0.0.1.evil.example"),
            ("ftp://stripe.example", "https://"),
        ] {
            let e = c.s.set_setting(&c.it, "stripe.api-base", value).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{value}: {e}");
            assert!(e.to_string().contains(says), "{value}: {e}");
        }
        assert_eq!(fingerprint(db).await, before);
    }

    async fn moving_a_gateway_address_keeps_its_secret_from_the_new_host_at_every_desk(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        // A second desk with its own keychain, holding the key for the simulator's address.
        let other = format!("{}-desk-b", c.keychain);
        let desk_b = Services::with_credentials(db.store.clone(), Arc::new(FixedClock(now())), Arc::new(Keychain::named(&other)));
        desk_b.set_gateway_credentials(&c.it, Gateway::Nmi, Secret::new(NMI_KEY)).await.unwrap();

        let changed = c.s.set_setting(&c.it, "nmi.api-base", "https://nmi-proxy.elsewhere.example").await.unwrap();
        assert!(changed.message.contains("enters it again"), "{}", changed.message);
        let calls = c.sim.transactions().len();
        for desk in [&c.s, &desk_b] {
            let inv = desk.create_invoice(&c.desk, c.patient, Clinic::usd(2_000), "Visit").await.unwrap();
            let e = desk.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::CredentialsMissing, "{e}");
            assert!(!e.to_string().contains(NMI_KEY), "{e}");
        }
        // The desk that made the change forgot its key; the other still holds one, which it keeps
        // for the address it was given for.
        let inv = desk_b.create_invoice(&c.desk, c.patient, Clinic::usd(1_900), "Visit").await.unwrap();
        let e = desk_b.pay_invoice(&c.desk, inv.id, None).await.unwrap_err();
        assert!(e.to_string().contains("does not send it there"), "{e}");
        assert!(e.to_string().contains("nmi-proxy.elsewhere.example"), "{e}");
        assert_eq!(c.sim.transactions().len(), calls, "nothing was sent anywhere");

        // Back at the old address, the desk that was not told keeps working; the desk that made the
        // change forgot its key and needs it again.
        c.s.set_setting(&c.it, "nmi.api-base", &c.sim.base_url()).await.unwrap();
        let inv = desk_b.create_invoice(&c.desk, c.patient, Clinic::usd(2_100), "Visit").await.unwrap();
        desk_b.pay_invoice(&c.desk, inv.id, None).await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, Clinic::usd(2_200), "Visit").await.unwrap();
        assert_eq!(c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap_err().code(), ErrorCode::CredentialsMissing);
        let k = Keychain::named(&other);
        use clinicpay_services::credentials::CredentialStore;
        let _ = k.delete(Gateway::Nmi.into());
    }

    async fn a_live_clinic_refuses_a_test_key_and_the_training_clinic_a_live_one(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        // At the gateways' own addresses (no stand-in on this computer), a test key takes no money.
        c.s.set_setting(&c.it, "stripe.api-base", "").await.unwrap();
        c.s.set_setting(&c.it, "nmi.api-base", "").await.unwrap();
        let before = fingerprint(db).await;
        for (gateway, key, says) in [
            (Gateway::Stripe, "sk_test_51Hclinicpay0scenario0key0000", "sk_live_"),
            (Gateway::Stripe, "rk_test_51Hclinicpay0scenario0key0000", "sk_live_"),
            (Gateway::Nmi, NMI_KEY, "NMI's public test key"),
        ] {
            let e = c.s.set_gateway_credentials(&c.it, gateway, Secret::new(key)).await.unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
            assert!(e.to_string().contains(says), "{e}");
            assert!(!e.to_string().contains(key), "the key is not echoed: {e}");
        }
        assert_eq!(fingerprint(db).await, before);
        c.s.set_gateway_credentials(&c.it, Gateway::Stripe, Secret::new("sk_live_51Hclinicpay0real0key00000")).await.unwrap();

        // The demo clinic is training: a live key has no business on it.
        let t = TestDb::new(clinicpay_testkit::Backend::Sqlite).await;
        let s = Services::with_credentials(t.store.clone(), Arc::new(FixedClock(now())), Arc::new(Keychain::named(format!("{}-training", c.keychain))));
        s.seed_demo(None, 3, 1).await.unwrap();
        let it = s.actor_by_username("it").await.unwrap();
        let e = s.set_gateway_credentials(&it, Gateway::Stripe, Secret::new("sk_live_51Hclinicpay0real0key00000")).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidInput, "{e}");
        assert!(e.to_string().contains("training clinic"), "{e}");
    }

    async fn a_desk_session_follows_its_account_from_the_next_command(db: &TestDb) {
        let s = Services::new(db.store.clone(), Arc::new(FixedClock(now())));
        let Staff { it, desk, .. } = staff(&s).await;
        let session = s.sign_in("frontdesk", "secret-frontdesk").await.unwrap();
        assert_eq!(s.current_actor(&session).await.unwrap().role, Role::FrontDesk);
        s.set_staff_role(&it, "frontdesk", Role::BillingManager).await.unwrap();
        assert_eq!(s.current_actor(&session).await.unwrap().role, Role::BillingManager, "the next command has the new role");
        s.set_staff_active(&it, "frontdesk", false).await.unwrap();
        let e = s.current_actor(&session).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
        assert!(e.to_string().contains("switched off"), "{e}");
        let _ = desk;
        // A switched-off account cannot sign in either, even with the right password.
        let e = s.sign_in("frontdesk", "secret-frontdesk").await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
        // A new account's password has at least 12 characters.
        let e = s.add_staff(Some(&it), "newbie", "", Role::FrontDesk, "eleven-char").await.unwrap_err();
        assert!(e.to_string().contains("at least 12 characters"), "{e}");
    }

    async fn the_front_desk_refund_limit_counts_every_refund_of_a_payment(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        c.s.set_setting(&c.manager, "refunds.front-desk-limit", "100.00").await.unwrap();
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        let inv = c.s.create_invoice(&c.desk, c.patient, Clinic::usd(30_000), "Surgery").await.unwrap();
        let paid = c.s.pay_invoice(&c.desk, inv.id, None).await.unwrap().payment;
        c.s.refund_payment(&c.desk, paid.id, Some(Clinic::usd(8_000))).await.unwrap();
        // $80 given back already: $30 more would be $110 on this payment, over the $100 limit.
        let before = fingerprint(db).await;
        let e = c.s.refund_payment(&c.desk, paid.id, Some(Clinic::usd(3_000))).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::PermissionDenied, "{e}");
        assert!(e.to_string().contains("its refunds together"), "{e}");
        assert_eq!(fingerprint(db).await, before, "nothing was refunded");
        // Up to the limit in all is the front desk's; above it is the billing manager's.
        c.s.refund_payment(&c.desk, paid.id, Some(Clinic::usd(2_000))).await.unwrap();
        c.s.refund_payment(&c.manager, paid.id, Some(Clinic::usd(3_000))).await.unwrap();
        let refunded: i64 = c.sim.transactions().iter().filter(|t| t.kind == "refund" && t.success).map(|t| t.amount_minor).sum();
        assert_eq!(refunded, 13_000);
    }

    async fn a_desk_left_alone_past_its_lock_refuses_the_next_command_whatever_the_window_does(db: &TestDb) {
        let at = |minutes: i64| Services::new(db.store.clone(), Arc::new(FixedClock(now() + chrono::Duration::minutes(minutes))));
        let s = at(0);
        let Staff { it, .. } = staff(&s).await;
        assert_eq!(s.clinic_info().await.unwrap().desk_lock_minutes, 5, "the default lock");
        let mut session = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        // A command is not activity: the window polling every few seconds keeps nobody signed in.
        at(4).desk_session_actor(&mut session).await.unwrap();
        let e = at(6).desk_session_actor(&mut session).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
        assert!(e.to_string().contains("locked after 5 idle minutes"), "{e}");

        // Keys and clicks are: four minutes of quiet after the last one is still fine.
        let mut session = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        at(4).desk_activity(&mut session).await.unwrap();
        assert_eq!(at(8).desk_session_actor(&mut session).await.unwrap().username, "frontdesk");
        assert!(at(10).desk_session_actor(&mut session).await.is_err());
        // A click after the lock does not bring the session back.
        let mut session = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        let e = at(7).desk_activity(&mut session).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");

        // IT may turn the lock off; then a desk stays signed in.
        s.set_setting(&it, "desk.lock-after-minutes", "0").await.unwrap();
        let mut session = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        assert!(at(600).desk_session_actor(&mut session).await.is_ok());
        let mut tx = db.store.begin().await.unwrap();
        let ended: i64 = clinicpay_testkit::raw_scalar(&mut tx, "SELECT COUNT(*) FROM activity_log WHERE action = 'staff.signed_out'").await;
        drop(tx);
        assert_eq!(ended, 3, "each idle lock is in the activity log");

        // A password IT reset ends the sessions signed in with the old one.
        let mut session = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        s.reset_staff_password(&it, "frontdesk", "a-brand-new-password").await.unwrap();
        let e = s.desk_session_actor(&mut session).await.unwrap_err();
        assert!(e.to_string().contains("password of this account was changed"), "{e}");
    }

    async fn the_mail_password_goes_only_to_the_mail_server_it_was_given_for(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let card = c.add(Gateway::Nmi, "4111111111111111").await.unwrap().card.id;
        for (k, v) in [
            ("smtp.host", "127.0.0.1"),
            ("smtp.port", "2525"),
            ("smtp.security", "none"),
            ("smtp.username", "billing"),
            ("smtp.from", "Clinic <billing@clinic.example>"),
        ] {
            c.s.set_setting(&c.it, k, v).await.unwrap();
        }
        c.s.set_smtp_password(&c.it, Secret::new("mail-password-0001")).await.unwrap();
        // IT moves the mail server: the password stays with the one it was given for.
        c.s.set_setting(&c.it, "smtp.host", "mail.elsewhere.example").await.unwrap();
        c.s.set_setting(&c.it, "smtp.security", "starttls").await.unwrap();
        let e = c.s.notify_cards(&c.manager, &[card]).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::CredentialsMissing, "{e}");
        assert!(e.to_string().contains("does not send it there"), "{e}");
        assert!(!e.to_string().contains("mail-password-0001"), "{e}");
        // A login in clear is for a mail server on this computer only.
        c.s.set_setting(&c.it, "smtp.security", "none").await.unwrap();
        let e = c.s.notify_cards(&c.manager, &[card]).await.unwrap_err();
        assert!(e.to_string().contains("in clear"), "{e}");
    }

    async fn guesses_sent_at_once_still_lock_the_name_after_five_and_a_spent_lock_starts_again(db: &TestDb) {
        let s = Services::new(db.store.clone(), Arc::new(FixedClock(now())));
        let Staff { it, .. } = staff(&s).await;
        let tries: Vec<_> = (0..20)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.sign_in("frontdesk", "a-wrong-guess").await.unwrap_err().code() })
            })
            .collect();
        let mut codes = Vec::new();
        for t in tries {
            codes.push(t.await.unwrap());
        }
        let checked = codes.iter().filter(|c| **c == ErrorCode::SignInFailed).count();
        assert!(checked <= 4, "at most five guesses were checked (the fifth says locked): {codes:?}");
        assert_eq!(codes.iter().filter(|c| **c == ErrorCode::NotSignedIn).count(), 20 - checked);
        let e = s.sign_in("frontdesk", "secret-frontdesk").await.unwrap_err();
        assert!(e.to_string().contains("locked for 15 more minutes"), "{e}");
        let mut tx = db.store.begin().await.unwrap();
        let locks: i64 = clinicpay_testkit::raw_scalar(&mut tx, "SELECT COUNT(*) FROM activity_log WHERE action = 'staff.locked_out'").await;
        drop(tx);
        assert_eq!(locks, 1);

        // Sixteen minutes later the lock is over, and one wrong password does not bring it back.
        let later = Services::new(db.store.clone(), Arc::new(FixedClock(now() + chrono::Duration::minutes(16))));
        assert_eq!(later.sign_in("frontdesk", "a-wrong-guess").await.unwrap_err().code(), ErrorCode::SignInFailed);
        later.sign_in("frontdesk", "secret-frontdesk").await.unwrap();

        // The worker's account is never locked: a desk cannot stop the clinic's billing.
        s.add_staff(Some(&it), "billing-worker", "", Role::Worker, "worker-password-long-1").await.unwrap();
        for _ in 0..7 {
            assert_eq!(s.sign_in_via("billing-worker", "guess", "cli").await.unwrap_err().code(), ErrorCode::SignInFailed);
        }
        s.sign_in_via("billing-worker", "worker-password-long-1", "worker").await.unwrap();
    }
}

on_both_databases! {
    async fn a_worker_switched_off_or_moved_by_it_bills_nothing_from_its_next_pass(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let s = &c.s;
        c.add(Gateway::Nmi, "4111111111111111").await.unwrap();
        s.create_subscription(&c.desk, c.patient, "Wellness", Clinic::usd(4_900), "month")
            .await
            .unwrap();
        s.add_staff(Some(&c.it), "billing-worker", "", Role::Worker, "worker-password-long-1")
            .await
            .unwrap();
        let worker = s
            .sign_in_via("billing-worker", "worker-password-long-1", "worker")
            .await
            .unwrap();

        let sent = c.sim.transactions().len();
        // IT switches the account off while the worker runs: its next pass is refused, nothing billed.
        s.set_staff_active(&c.it, "billing-worker", false).await.unwrap();
        let before = fingerprint(db).await;
        let e = s.run_worker_pass_as(&worker).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
        assert!(e.to_string().contains("switched off"), "{e}");
        assert_eq!(fingerprint(db).await, before, "a refused pass bills nothing");
        assert_eq!(c.sim.transactions().len(), sent, "nothing reached the gateway");

        // Back on, but as front desk: still no billing.
        s.set_staff_active(&c.it, "billing-worker", true).await.unwrap();
        s.set_staff_role(&c.it, "billing-worker", Role::FrontDesk).await.unwrap();
        let e = s.run_worker_pass_as(&worker).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::PermissionDenied, "{e}");
        assert_eq!(c.sim.transactions().len(), sent, "nothing reached the gateway");

        // A worker again: the same running worker bills the due cycle at its next pass.
        s.set_staff_role(&c.it, "billing-worker", Role::Worker).await.unwrap();
        let report = s.run_worker_pass_as(&worker).await.unwrap();
        assert_eq!((report.cycles_billed, report.cycles_paid), (1, 1), "{report:?}");
    }
}

on_both_databases! {
    async fn a_desk_does_not_tell_a_workers_right_password_from_a_wrong_one(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let s = &c.s;
        s.add_staff(Some(&c.it), "billing-worker", "", Role::Worker, "worker-password-long-1")
            .await
            .unwrap();
        // The worker's account is never locked, so the desk must answer the same either way.
        let right = s.open_desk_session("billing-worker", "worker-password-long-1").await.unwrap_err();
        let wrong = s.open_desk_session("billing-worker", "a wrong guess here").await.unwrap_err();
        assert_eq!((right.code(), right.to_string()), (wrong.code(), wrong.to_string()));
        assert_eq!(right.code(), ErrorCode::NotSignedIn);
        // A person's open session ends when IT moves the account to the worker role.
        let mut session = s.open_desk_session("manager", "secret-manager").await.unwrap();
        s.set_staff_role(&c.it, "manager", Role::Worker).await.unwrap();
        let e = s.desk_session_actor(&mut session).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
    }

    async fn changing_ones_own_password_keeps_this_desk_signed_in_and_ends_the_others(db: &TestDb) {
        let c = clinic(db, Gateway::Nmi).await;
        let s = &c.s;
        let mut here = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        let mut elsewhere = s.open_desk_session("frontdesk", "secret-frontdesk").await.unwrap();
        let e = s
            .change_desk_password(&mut here, "not the password", "a new long password 19")
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::SignInFailed, "{e}");
        s.change_desk_password(&mut here, "secret-frontdesk", "a new long password 19").await.unwrap();
        assert_eq!(s.desk_session_actor(&mut here).await.unwrap().username, "frontdesk");
        let e = s.desk_session_actor(&mut elsewhere).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotSignedIn, "{e}");
        s.open_desk_session("frontdesk", "a new long password 19").await.unwrap();
    }
}
