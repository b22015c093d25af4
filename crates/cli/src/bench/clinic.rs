//! The measures over a clinic group's data (`clinicpay demo seed --patients N --clinic-group`): patient
//! search, the patient profile, the expiring-cards dashboard and the gateway report, each next to the
//! same SQL sent raw through sqlx on its own connection in the same run.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Datelike, Duration as Days, NaiveDate, Utc};
use clinicpay_domain::{PatientId, PatientType, SystemClock};
use clinicpay_services::demo::DemoSize;
use clinicpay_services::reminders::{ExpiringFilter, DASHBOARD_LIMIT, DASHBOARD_PAGE};
use clinicpay_services::{Actor, Services};
use clinicpay_store::{overview, Store};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Pool, Sqlite};

use super::{ms, verdict, Timings};

/// A plan the demo seed gives patients, for the dashboard's Service Type filter.
const BENCH_SERVICE: &str = "Physio package";

/// The database the measures read: made by the demo seed at a clinic group's size when empty.
pub struct Clinic {
    pub url: String,
    pub store: Store,
    pub services: Services,
}

pub async fn open(url: &str, patients: u32) -> Clinic {
    let store = match Store::open(url).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("cannot open {url}: {e}");
            std::process::exit(5);
        }
    };
    let services = Services::new(store.clone(), Arc::new(SystemClock));
    let counts = overview::clinic_counts(&mut store.reader().await.expect("reader"))
        .await
        .expect("counts");
    println!("database: {}", clinicpay_store::redact_url(url));
    if counts.patients == 0 {
        let t = Instant::now();
        let r = services
            .seed_demo_sized(
                None,
                DemoSize {
                    patients,
                    seed: 1,
                    clinic_group: true,
                },
            )
            .await
            .expect("seed");
        let took = t.elapsed();
        println!(
            "seeded (demo seed --patients {patients} --clinic-group): {} patients, {} cards, {} invoices, {} payments in {:.1} s",
            r.patients,
            r.cards,
            r.invoices,
            r.payments,
            took.as_secs_f64(),
        );
    } else {
        println!(
            "reusing the clinic in it: {} patients, {} saved cards",
            counts.patients, counts.active_cards
        );
    }
    Clinic {
        url: url.to_owned(),
        store,
        services,
    }
}

async fn patients_of(c: &Clinic) -> i64 {
    overview::clinic_counts(&mut c.store.reader().await.expect("reader"))
        .await
        .expect("counts")
        .patients
}

async fn payments_of(c: &Clinic) -> i64 {
    let mut r = c.store.reader().await.expect("reader");
    match clinicpay_store::Executor::conn(&mut r) {
        clinicpay_store::Conn::Sqlite(c) => sqlx::query_scalar("SELECT COUNT(*) FROM payments")
            .fetch_one(c)
            .await
            .expect("count"),
        clinicpay_store::Conn::Postgres(c) => sqlx::query_scalar("SELECT COUNT(*) FROM payments")
            .fetch_one(c)
            .await
            .expect("count"),
    }
}

/// A connection of sqlx's own on the same SQLite file: the floor our layers are measured against.
async fn raw_sqlite(url: &str) -> Pool<Sqlite> {
    let path = url.strip_prefix("sqlite://").unwrap_or(url);
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))
        .expect("SQLite address")
        .read_only(true)
        // The same page access as the app's own connections, so only our layers differ.
        .pragma("mmap_size", "1073741824");
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("raw SQLite connection")
}

const QUERIES: &[&str] = &[
    "s",
    "sm",
    "smi",
    "smith",
    "john",
    "jo sm",
    "maria gar",
    "o'b",
    "zz",
    "555",
    "555 12",
    "emma.",
    "billing1",
];

/// Patient search as the desk calls it, and the same lookup as one hand-written statement.
pub async fn search(c: &Clinic, desk: &Actor) {
    let raw = raw_sqlite(&c.url).await;
    println!("\npatient search, 50 runs per query after one warm-up (ClinicPay = services; raw = one statement through sqlx):");
    println!(
        "{:<12} {:>7} {:>11} {:>11} {:>11} {:>11}",
        "query", "results", "ours p50", "ours p95", "raw p50", "raw p95"
    );
    let (mut ours_all, mut raw_all) = (Vec::new(), Vec::new());
    for q in QUERIES {
        let results = c.services.search_patients(desk, q).await.expect("search");
        let statement = raw_search(&raw, q).await;
        let raw_rows = statement.run(&raw).await;
        let mut ours = Timings::default();
        let mut floor = Timings::default();
        for _ in 0..50 {
            // Interleaved, so both see the same machine.
            let t = Instant::now();
            c.services.search_patients(desk, q).await.expect("search");
            ours.push(t.elapsed());
            let t = Instant::now();
            statement.run(&raw).await;
            floor.push(t.elapsed());
        }
        println!(
            "{:<12} {:>7} {:>11} {:>11} {:>11} {:>11}{}",
            format!("{q:?}"),
            results.len(),
            ms(ours.p(0.5)),
            ms(ours.p(0.95)),
            ms(floor.p(0.5)),
            ms(floor.p(0.95)),
            if raw_rows.min(50) == results.len() {
                String::new()
            } else {
                format!("  (raw found {raw_rows})")
            }
        );
        ours_all.extend(ours.0);
        raw_all.extend(floor.0);
    }
    ours_all.sort();
    raw_all.sort();
    let (ours, floor) = (Timings(ours_all), Timings(raw_all));
    let ratio = ours.p(0.95).as_secs_f64() / floor.p(0.95).as_secs_f64();
    verdict(
        &format!("patient search, {} patients, SQLite", patients_of(c).await),
        format!("p95 {} (p50 {})", ms(ours.p(0.95)), ms(ours.p(0.5))),
        format!("raw SQL p95 {}", ms(floor.p(0.95))),
        format!("{ratio:.2}x"),
        "p95 ≤ 1.3x and ≤ 5 ms",
        ratio <= 1.3 && ours.p(0.95) <= Duration::from_millis(5),
    );
    raw.close().await;
}

/// The lookup a person would write by hand for a query: the first word's prefix on the search terms,
/// the other words on the patient's search text, 200 rows read for the 50 shown.
struct RawSearch {
    sql: String,
    binds: Vec<String>,
}

impl RawSearch {
    async fn run(&self, pool: &Pool<Sqlite>) -> usize {
        let mut q = sqlx::query(&self.sql);
        for b in &self.binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(pool).await.expect("raw search");
        let mut seen = std::collections::HashSet::new();
        rows.iter()
            .filter(|r| seen.insert(sqlx::Row::get::<i64, _>(*r, 0)))
            .count()
    }
}

/// The statement is made before the clock starts, its driving word picked as the store picks it (the
/// word with the fewest terms), so the two run the same lookup.
async fn raw_search(pool: &Pool<Sqlite>, query: &str) -> RawSearch {
    let q = query.to_lowercase().replace('\'', "");
    let phone =
        q.chars().any(|c| c.is_ascii_digit()) && q.chars().all(|c| c.is_ascii_digit() || c == ' ');
    let mut words: Vec<String> = if phone {
        vec![q.replace(' ', "")]
    } else {
        q.split_whitespace().map(str::to_owned).collect()
    };
    if words.len() > 1 {
        let mut ranked = Vec::new();
        for w in words {
            let n: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM patient_search_terms WHERE term >= ?1 AND term < ?2 LIMIT 256)",
            )
            .bind(&w)
            .bind(format!("{w}\u{10FFFF}"))
            .fetch_one(pool)
            .await
            .expect("count terms");
            ranked.push((n, std::cmp::Reverse(w.chars().count()), w));
        }
        ranked.sort();
        words = ranked.into_iter().map(|(_, _, w)| w).collect();
    }
    let mut sql = String::from(
        "SELECT p.id, p.name, p.email, p.phone, p.patient_type, p.created_at
           FROM patient_search_terms t JOIN patients p ON p.id = t.patient_id
          WHERE t.term >= ?1 AND t.term < ?2",
    );
    let mut binds = vec![words[0].clone(), format!("{}\u{10FFFF}", words[0])];
    for w in &words[1..] {
        binds.push(format!("% {w}%"));
        sql.push_str(&format!(" AND t.search_text LIKE ?{}", binds.len()));
    }
    sql.push_str(" ORDER BY t.term, t.sort_key, t.patient_id LIMIT 200");
    RawSearch { sql, binds }
}

/// Opening a patient as the window does: profile, account and the checks, at once.
pub async fn profile(c: &Clinic, desk: &Actor, opens: i64) {
    let patients = overview::clinic_counts(&mut c.store.reader().await.expect("reader"))
        .await
        .expect("counts")
        .patients;
    let s = &c.services;
    let open = |id: PatientId| async move {
        let (p, a, k) = tokio::join!(
            s.patient_profile(desk, id),
            s.patient_account(desk, id),
            s.what_to_check(desk, id, None)
        );
        let (p, a, k) = (p.expect("profile"), a.expect("account"), k.expect("checks"));
        p.cards.len() + a.invoices.len() + a.payments.len() + k.len()
    };
    // Patients spread over the whole clinic, the same ones every run.
    let ids: Vec<PatientId> = (0..opens.max(20))
        .map(|i| PatientId(1 + (i * 7919) % patients.max(1)))
        .collect();
    let mut shown = 0;
    for id in &ids[..10] {
        shown += open(*id).await;
    }
    let mut t = Timings::default();
    for id in &ids {
        let start = Instant::now();
        open(*id).await;
        t.push(start.elapsed());
    }
    println!(
        "\npatient profile (cards, invoices, payments, orders, plans, activity, what to check), {} patients, about {} rows each: p50 {} · p95 {} · max {}",
        ids.len(),
        shown / 10,
        ms(t.p(0.5)),
        ms(t.p(0.95)),
        ms(t.max())
    );
    verdict(
        &format!("patient profile, {} payments", payments_of(c).await),
        format!("p95 {} (p50 {})", ms(t.p(0.95)), ms(t.p(0.5))),
        "—".into(),
        "—".into(),
        "p95 ≤ 15 ms",
        t.p(0.95) <= Duration::from_millis(15),
    );
}

/// The expiring-cards dashboard through the services as the window asks for it (its first page, and the
/// page "Show more" brings), and its cards and plans statements sent raw.
pub async fn expiring(c: &Clinic, desk: &Actor) {
    let page = || ExpiringFilter {
        page_size: Some(DASHBOARD_PAGE),
        ..Default::default()
    };
    let raw = raw_sqlite(&c.url).await;
    let cards = overview::clinic_counts(&mut c.store.reader().await.expect("reader"))
        .await
        .expect("counts")
        .active_cards;
    println!(
        "\nexpiring-cards dashboard over {cards} saved cards, pages of {DASHBOARD_PAGE}, 20 runs each after one warm-up:"
    );
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        "filter", "rows", "p50", "p95", "max"
    );
    let filters: [(&str, ExpiringFilter); 6] = [
        (
            "next 30 days",
            ExpiringFilter {
                within_days: Some(30),
                ..page()
            },
        ),
        ("next 60 days (default)", page()),
        (
            "next 90 days",
            ExpiringFilter {
                within_days: Some(90),
                ..page()
            },
        ),
        (
            "already expired",
            ExpiringFilter {
                expired: true,
                ..page()
            },
        ),
        (
            "next 60 days, business",
            ExpiringFilter {
                patient_type: Some(PatientType::Business),
                ..page()
            },
        ),
        (
            "next 60 days, one service",
            ExpiringFilter {
                service: Some(BENCH_SERVICE.into()),
                ..page()
            },
        ),
    ];
    let mut worst = Timings::default();
    let mut default = Timings::default();
    for (name, f) in filters {
        let rows = c
            .services
            .expiring_cards(desk, &f)
            .await
            .expect("expiring")
            .cards
            .len();
        let mut t = Timings::default();
        for _ in 0..20 {
            let start = Instant::now();
            c.services.expiring_cards(desk, &f).await.expect("expiring");
            t.push(start.elapsed());
        }
        println!(
            "{:<28} {:>7} {:>11} {:>11} {:>11}",
            name,
            rows,
            ms(t.p(0.5)),
            ms(t.p(0.95)),
            ms(t.max())
        );
        if name == "next 60 days (default)" {
            default = t.clone();
        }
        if t.p(0.95) > worst.p(0.95) || worst.0.is_empty() {
            worst = t;
        }
    }
    // "Show more" on the default filter: the page after the first, and the tenth.
    let mut later = page();
    for n in 1..=10 {
        let start = Instant::now();
        let got = c
            .services
            .expiring_cards(desk, &later)
            .await
            .expect("expiring");
        if n == 2 || n == 10 {
            println!(
                "{:<28} {:>7} {:>11}",
                format!("default, page {n} (Show more)"),
                got.cards.len(),
                ms(start.elapsed())
            );
        }
        match got.next {
            Some(next) => later.after = Some(next),
            None => break,
        }
    }
    // What `clinicpay expiring` lists at once, for scripts.
    let list = ExpiringFilter::default();
    let mut t = Timings::default();
    let mut listed = 0;
    for _ in 0..6 {
        let start = Instant::now();
        listed = c
            .services
            .expiring_cards(desk, &list)
            .await
            .expect("expiring")
            .cards
            .len();
        t.push(start.elapsed());
    }
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        format!("CLI list (up to {DASHBOARD_LIMIT})"),
        listed,
        ms(t.p(0.5)),
        ms(t.p(0.95)),
        ms(t.max())
    );
    // The default filter's statement, raw: cards expiring this month to two months on, with the patient,
    // whether another card is still valid, and the plans billed to a default card; the window's page.
    let page_sql = format!("{RAW_EXPIRING_CARDS} LIMIT {}", DASHBOARD_PAGE + 1);
    let now = Utc::now();
    let from = now.year() * 12 + now.month() as i32;
    let to = from + 2;
    let mut floor = Timings::default();
    for _ in 0..21 {
        let start = Instant::now();
        let cards = sqlx::query(&page_sql)
            .bind(from)
            .bind(to)
            .fetch_all(&raw)
            .await
            .expect("raw cards");
        floor.push(start.elapsed());
        std::hint::black_box(cards.len());
    }
    // The same statement without its limit: every card of the range, sorted.
    let full_sql = RAW_EXPIRING_CARDS;
    let mut full = Timings::default();
    let mut in_range = 0;
    for _ in 0..6 {
        let start = Instant::now();
        let cards = sqlx::query(full_sql)
            .bind(from)
            .bind(to)
            .fetch_all(&raw)
            .await
            .expect("raw cards, all");
        full.push(start.elapsed());
        in_range = cards.len();
    }
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        "raw SQL, default filter",
        "",
        ms(floor.p(0.5)),
        ms(floor.p(0.95)),
        ms(floor.max())
    );
    println!(
        "{:<28} {:>7} {:>11} {:>11} {:>11}",
        "raw SQL, all of the range",
        in_range,
        ms(full.p(0.5)),
        ms(full.p(0.95)),
        ms(full.max())
    );
    // The same filter against its own statement raw; the other filters against the target alone.
    let ratio = default.p(0.95).as_secs_f64() / floor.p(0.95).as_secs_f64();
    verdict(
        &format!("expiring-cards dashboard, {cards} cards, SQLite"),
        format!(
            "default filter p95 {}, slowest filter p95 {}; the first page against sorting all {in_range} of the range: {}",
            ms(default.p(0.95)),
            ms(worst.p(0.95)),
            ms(full.p(0.5))
        ),
        format!("raw SQL p95 {}", ms(floor.p(0.95))),
        format!("{ratio:.2}x"),
        "≤ 1.3x and ≤ 50 ms, first page cheaper than the full sort",
        ratio <= 1.3
            && worst.p(0.95) <= Duration::from_millis(50)
            && default.p(0.95) < full.p(0.5),
    );
    raw.close().await;
}

const RAW_EXPIRING_CARDS: &str = "
    SELECT pm.id, pm.patient_id, pm.gateway, pm.brand, pm.last4, pm.exp_month, pm.exp_year, pm.is_default,
           p.name, p.email, p.patient_type,
           EXISTS (SELECT 1 FROM payment_methods o
                    WHERE o.patient_id = pm.patient_id AND o.id <> pm.id AND o.removed_at IS NULL
                      AND o.exp_year * 12 + o.exp_month > pm.exp_year * 12 + pm.exp_month
                      AND o.exp_year * 12 + o.exp_month >= ?1),
           CASE WHEN pm.is_default THEN (SELECT group_concat(plan, char(31)) FROM (SELECT s.plan FROM subscriptions s
                    WHERE s.patient_id = pm.patient_id AND s.status <> 'CANCELLED' ORDER BY s.id)) END
      FROM payment_methods pm JOIN patients p ON p.id = pm.patient_id
     WHERE pm.removed_at IS NULL AND pm.exp_year * 12 + pm.exp_month BETWEEN ?1 AND ?2
     ORDER BY pm.exp_year * 12 + pm.exp_month, pm.id";

/// The gateway report over the whole history and shorter ranges, and its payment aggregate sent raw.
pub async fn report(c: &Clinic, label: &str) {
    let manager = c
        .services
        .actor_by_username("manager")
        .await
        .expect("demo staff");
    let today = Utc::now().date_naive();
    let ranges: [(&str, NaiveDate); 3] = [
        ("last 90 days", today - Days::days(89)),
        ("last year", today - Days::days(364)),
        ("all history", today - Days::days(365 * 5)),
    ];
    println!("\ngateway report on {label}, 10 runs each after one warm-up:");
    println!(
        "{:<14} {:>10} {:>11} {:>11} {:>11} {:>11}",
        "range", "payments", "ours p50", "ours p95", "raw p50", "raw p95"
    );
    let mut last = (0, Timings::default(), Timings::default());
    for (name, from) in ranges {
        let r = c
            .services
            .gateway_report(&manager, Some(from), None)
            .await
            .expect("report");
        let counted: i64 = r.gateways.iter().map(|g| g.attempts).sum();
        let start_ms = from
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis();
        let (mut ours, mut floor) = (Timings::default(), Timings::default());
        for _ in 0..10 {
            let t = Instant::now();
            c.services
                .gateway_report(&manager, Some(from), None)
                .await
                .expect("report");
            ours.push(t.elapsed());
            let t = Instant::now();
            raw_report(&c.store, start_ms).await;
            floor.push(t.elapsed());
        }
        println!(
            "{:<14} {:>10} {:>11} {:>11} {:>11} {:>11}",
            name,
            counted,
            ms(ours.p(0.5)),
            ms(ours.p(0.95)),
            ms(floor.p(0.5)),
            ms(floor.p(0.95))
        );
        last = (counted, ours, floor);
    }
    let (counted, ours, floor) = last;
    let ratio = ours.p(0.95).as_secs_f64() / floor.p(0.95).as_secs_f64();
    verdict(
        &format!("gateway report, {counted} payments, {label}"),
        format!("p95 {}", ms(ours.p(0.95))),
        format!("raw aggregate p95 {}", ms(floor.p(0.95))),
        format!("{ratio:.2}x"),
        if label == "PostgreSQL" {
            "≤ 1.5x and ≤ 1 s"
        } else {
            "≤ 1 s"
        },
        ours.p(0.95) <= Duration::from_secs(1)
            && (label != "PostgreSQL" || ratio <= 1.5)
            && counted >= 1_000_000,
    );
}

/// The payment totals by gateway and status, the report's heaviest statement, sent raw through sqlx on
/// one of the store's connections (SQLite or PostgreSQL alike).
async fn raw_report(store: &Store, from_ms: i64) {
    const SQL: &str = "SELECT gateway, status, currency, COUNT(*), SUM(amount_minor)
                         FROM payments WHERE created_at >= $1 GROUP BY gateway, status, currency";
    let mut r = store.reader().await.expect("reader");
    match clinicpay_store::Executor::conn(&mut r) {
        clinicpay_store::Conn::Sqlite(c) => {
            std::hint::black_box(
                sqlx::query(SQL)
                    .bind(from_ms)
                    .fetch_all(c)
                    .await
                    .expect("raw"),
            );
        }
        clinicpay_store::Conn::Postgres(c) => {
            std::hint::black_box(
                sqlx::query(SQL)
                    .bind(from_ms)
                    .fetch_all(c)
                    .await
                    .expect("raw"),
            );
        }
    }
}
