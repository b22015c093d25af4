//! Month-end (issue 24): tens of thousands of subscription cycles fall due at once and the gateway
//! answers at its rate limit. The billing engine runs as IT installs it, `clinicpay worker` in a process
//! of its own, so its memory is the engine's alone; the simulator (in this process) counts the approved
//! sales and refuses more than the limit a second with 429, as NMI does under load.

use std::time::{Duration, Instant};

use clinicpay_domain::Role;
use clinicpay_services::Services;
use clinicpay_sim::{SimConfig, Simulator};
use clinicpay_store::Store;

use super::{bench_schema, seed_due_cycles, verdict};

const WORKER: &str = "billing-engine";
const WORKER_PASSWORD: &str = "month-end-bench-1";

/// The resident memory of process `pid`, in MiB (Linux): its own (anonymous: heap, stacks), and the
/// pages of files it maps (the SQLite file, read through a memory map: the operating system's cache
/// of the database, which grows with the database and is given back under pressure).
fn rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|kb| kb / 1024.0)
    };
    Some((
        field("RssAnon:")?,
        field("RssFile:")? + field("RssShmem:").unwrap_or(0.0),
    ))
}

pub async fn month_end(cycles: usize, rate: u32, db: Option<String>) {
    let sim = Simulator::start(SimConfig {
        rate_limit_per_second: Some(rate),
        ..SimConfig::default()
    })
    .await
    .expect("simulator");
    let (url, schema) = match db.as_deref() {
        Some(pg) if pg.starts_with("postgres") => {
            let schema = format!("cp_bench_month_end_{}", std::process::id());
            (
                bench_schema(pg, &schema).await,
                Some((pg.to_owned(), schema)),
            )
        }
        _ => {
            let path =
                std::env::temp_dir().join(format!("clinicpay-month-end-{}.db", std::process::id()));
            let _ = std::fs::remove_file(&path);
            (path.display().to_string(), None)
        }
    };
    let store = Store::open(&url).await.expect("database");
    let seeding = Instant::now();
    let now = chrono::Utc::now() - chrono::Duration::minutes(1);
    seed_due_cycles(&store, &sim, cycles, now).await;
    let s = Services::new(
        store.clone(),
        std::sync::Arc::new(clinicpay_domain::SystemClock),
    );
    s.add_staff(None, "it", "IT", Role::ItAdmin, "bench-password-1")
        .await
        .expect("it");
    let it = s.actor_by_username("it").await.expect("it");
    s.add_staff(
        Some(&it),
        WORKER,
        "Billing engine",
        Role::Worker,
        WORKER_PASSWORD,
    )
    .await
    .expect("worker account");
    store.close().await;
    println!(
        "month-end: {cycles} cycles due, NMI simulator limited to {rate} a second (seeded in {:.1} s)",
        seeding.elapsed().as_secs_f64()
    );

    let clinicpay = std::env::current_exe()
        .expect("this program's path")
        .with_file_name("clinicpay");
    let started = Instant::now();
    let mut engine = std::process::Command::new(&clinicpay)
        .args(["--db", &url, "--as", WORKER, "worker"])
        .env("CLINICPAY_PASSWORD", WORKER_PASSWORD)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", clinicpay.display()));
    let pid = engine.id();
    // The engine's log, kept for the end (a pass says what it did).
    let log = engine.stderr.take().expect("stderr");
    let log = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(log)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });

    // Every second: how many are charged, and the engine's memory.
    let mut samples: Vec<(f64, usize, (f64, f64))> = Vec::new();
    let give_up = Duration::from_secs((cycles as u64 / u64::from(rate.max(1))) * 3 + 180);
    let mut first_sale: Option<f64> = None;
    let mut done_at = None;
    while started.elapsed() < give_up {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let t = started.elapsed().as_secs_f64();
        let charged = sim.approved_sales();
        if charged > 0 && first_sale.is_none() {
            first_sale = Some(t);
        }
        if samples.last().is_none_or(|(at, _, _)| t - at >= 1.0) || charged == cycles {
            let Some(rss) = rss_mib(pid) else {
                eprintln!("the engine stopped before billing every cycle");
                break;
            };
            samples.push((t, charged, rss));
        }
        if charged == cycles {
            done_at = Some(t);
            break;
        }
    }
    // SIGTERM, as a service manager stops it: it finishes its pass and gives up the engine.
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(pid as i32, libc::SIGTERM);
    }
    let _ = engine.wait();
    let log = log.join().unwrap_or_default();
    let passes = log.iter().filter(|l| l.contains("billed")).count();

    let sales: Vec<_> = sim
        .transactions()
        .into_iter()
        .filter(|t| t.kind == "sale" && t.success)
        .collect();
    let distinct: std::collections::BTreeSet<_> = sales.iter().map(|t| &t.order_id).collect();
    let per_vault: std::collections::BTreeMap<_, usize> =
        sales.iter().fold(Default::default(), |mut m, t| {
            *m.entry(t.vault_id.clone()).or_default() += 1;
            m
        });
    let duplicates = sales.len() - distinct.len() + per_vault.values().filter(|n| **n > 1).count();
    let Some(done) = done_at else {
        println!(
            "  not finished: {} of {cycles} charged in {:.0} s; the engine said:\n    {}",
            distinct.len(),
            started.elapsed().as_secs_f64(),
            log.iter()
                .rev()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n    ")
        );
        verdict(
            "month-end, 50,000 cycles at the gateway's rate limit",
            format!("{} of {cycles} charged", distinct.len()),
            format!("the limit, {rate}/s"),
            "—".into(),
            "≥ 98% of the limit, 0 duplicates, engine memory flat",
            false,
        );
        cleanup(&url, schema).await;
        return;
    };
    let per_second = cycles as f64 / done;
    let share = 100.0 * per_second / f64::from(rate);
    // The engine's own memory once under way (a tenth of the cycles charged), then at half and at the
    // end; the mapped database pages beside it.
    let at = |fraction: f64| {
        samples
            .iter()
            .find(|(_, n, _)| *n as f64 >= fraction * cycles as f64)
            .map_or((0.0, 0.0), |s| s.2)
    };
    let ((early, early_file), (middle, _), (end, end_file)) = (at(0.1), at(0.5), at(1.0));
    let peak = samples.iter().map(|s| s.2 .0).fold(0.0, f64::max);
    let growth = end - early;
    let flat = growth <= (early * 0.1).max(8.0);
    println!(
        "  {cycles} charged in {done:.1} s from the engine's start (first approved sale after {:.1} s) = {per_second:.1}/s = {share:.1}% of the limit; {} answered 429 and were paced; duplicate charges: {duplicates}; {passes} passes",
        first_sale.unwrap_or(0.0),
        sim.rate_limited()
    );
    println!(
        "  the engine's own memory (anonymous resident): {early:.1} MiB at 10% of the cycles, {middle:.1} MiB at 50%, {end:.1} MiB at the end (peak {peak:.1} MiB): {growth:+.1} MiB over the last 90%; the database pages it maps: {early_file:.1} → {end_file:.1} MiB"
    );
    verdict(
        &format!("month-end, {cycles} cycles at the gateway's rate limit"),
        format!("{share:.1}% of the limit, {duplicates} duplicates, engine memory {early:.0} → {end:.0} MiB"),
        format!("the limit, {rate}/s"),
        "—".into(),
        "≥ 98% of the limit, 0 duplicates, engine memory flat",
        share >= 98.0 && duplicates == 0 && distinct.len() == cycles && flat,
    );
    cleanup(&url, schema).await;
}

async fn cleanup(url: &str, schema: Option<(String, String)>) {
    match schema {
        Some((admin, schema)) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(&admin)
                .await
                .expect("PostgreSQL");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut c)
                .await
                .expect("drop the benchmark schema");
        }
        None => {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{url}{suffix}"));
            }
        }
    }
}
