//! `clinicpay`: ClinicPay's services on the command line, for IT's scripts, workers, reports and tests.
//! The names, JSON shapes and exit codes follow DESIGN.md's "CLI contract": scripts outside this
//! repository rely on them. Each subcommand is a few lines over one service call.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use clinicpay_domain::{
    Clock, FixedClock, NewPatient, PatientId, PatientType, PaymentId, Role, SystemClock,
};
use clinicpay_services::{Actor, ServiceError, Services};
use clinicpay_store::Store;

mod output;
mod sim;
use output::Out;

#[derive(Parser)]
#[command(
    name = "clinicpay",
    version,
    about = "ClinicPay: patients' saved cards and the money that moves through them"
)]
struct Cli {
    /// Database: a SQLite file (default: clinicpay.db in the OS app-data folder) or a postgres:// URL.
    #[arg(long, global = true, env = "CLINICPAY_DB")]
    db: Option<String>,
    /// Fix the clock, e.g. 2026-11-23T10:00:00Z.
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    /// Print one JSON value on stdout (errors as {"error": {"code", "message"}}).
    #[arg(long, global = true)]
    json: bool,
    /// The staff member acting (sign-in name).
    #[arg(long = "as", global = true, env = "CLINICPAY_STAFF")]
    as_staff: Option<String>,
    #[command(subcommand)]
    command: Command,
}

fn parse_now(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .map_err(|e| format!("{e}: give a time like 2026-11-23T10:00:00Z"))
}

#[derive(Subcommand)]
enum Command {
    /// The database itself.
    #[command(subcommand)]
    Db(DbCommand),
    /// The demo clinic.
    #[command(subcommand)]
    Demo(DemoCommand),
    /// Staff accounts.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Organization settings.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Patients.
    #[command(subcommand)]
    Patients(PatientsCommand),
    /// Saved cards.
    #[command(subcommand)]
    Cards(CardsCommand),
    /// The activity log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The front desk's overview: counts, expiring cards, who needs a call.
    Overview,
    /// Redacted gateway calls, newest first.
    ProcessorLog {
        /// Only the calls of this payment (our payment number).
        #[arg(long)]
        payment: Option<PaymentId>,
        /// Only the calls made for this patient.
        #[arg(long)]
        patient: Option<PatientId>,
    },
    /// The built-in gateway simulator.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// Serve NMI's Payment and Query APIs and the Collect.js stand-in until stopped; prints the base URL.
    Serve {
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// A hosted-field token from a running simulator, as the card form would make it.
    Token {
        /// The simulator's base URL (as `sim serve` printed it).
        #[arg(long = "sim")]
        sim: String,
        #[arg(long)]
        gateway: clinicpay_domain::Gateway,
        /// A test card number (the simulator's; never a real card).
        #[arg(long)]
        card: String,
        /// Expiry as MM/YY.
        #[arg(long, default_value = "12/30")]
        exp: String,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Apply pending migrations.
    Migrate,
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Fill an empty database with the deterministic demo clinic.
    Seed {
        #[arg(long, default_value_t = clinicpay_services::demo::DEFAULT_PATIENTS)]
        patients: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum StaffCommand {
    /// Add a staff account; the password is read from stdin.
    Add {
        name: String,
        #[arg(long)]
        role: Role,
        #[arg(long)]
        display_name: Option<String>,
    },
    List,
}

#[derive(Subcommand)]
enum SettingsCommand {
    Show,
    Set { key: String, value: String },
}

#[derive(Subcommand)]
enum PatientsCommand {
    Add(PatientArgs),
    /// Find patients by name, email or phone prefix.
    Search {
        query: Vec<String>,
    },
    Show {
        id: PatientId,
    },
}

#[derive(Args)]
struct PatientArgs {
    #[arg(long)]
    name: String,
    #[arg(long)]
    email: String,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long = "type", default_value = "individual")]
    patient_type: PatientType,
}

#[derive(Subcommand)]
enum CardsCommand {
    /// A patient's saved cards, the default first.
    List { patient: PatientId },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no activity-log entry was edited, deleted or inserted behind ClinicPay's back.
    Verify,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out { json: cli.json };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return out.error(&ServiceError::Internal(format!("cannot start ({e})")));
        }
    };
    match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => out.error(&e),
    }
}

/// The database the CLI opens: --db, CLINICPAY_DB, or the SQLite file in the OS app-data folder.
pub fn database_url(db: Option<String>) -> Result<String, ServiceError> {
    if let Some(db) = db.filter(|d| !d.trim().is_empty()) {
        return Ok(db);
    }
    clinicpay_store::default_database_url().ok_or_else(|| {
        ServiceError::Invalid(
            "There is no app-data folder for this user: give the database with --db.".into(),
        )
    })
}

async fn run(cli: Cli, out: &Out) -> Result<(), ServiceError> {
    if let Command::Sim(command) = cli.command {
        return sim::run(command, out).await;
    }
    let url = database_url(cli.db)?;
    let store = Store::open(&url).await?;
    let clock: Arc<dyn Clock> = match cli.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => Arc::new(SystemClock),
    };
    let s = Services::new(store, clock);
    let as_staff = cli.as_staff;
    let actor = || async { acting(&s, as_staff.as_deref()).await };

    match cli.command {
        Command::Db(DbCommand::Migrate) => out.migrated(&clinicpay_store::redact_url(&url)),
        Command::Demo(DemoCommand::Seed { patients, seed }) => {
            let a = match as_staff.as_deref() {
                Some(name) => Some(s.actor_by_username(name).await?),
                None => None,
            };
            out.seeded(&s.seed_demo(a.as_ref(), patients, seed).await?)
        }
        Command::Staff(StaffCommand::Add {
            name,
            role,
            display_name,
        }) => {
            let a = match as_staff.as_deref() {
                Some(n) => Some(s.actor_by_username(n).await?),
                None => None,
            };
            let password = read_password()?;
            let added = s
                .add_staff(
                    a.as_ref(),
                    &name,
                    display_name.as_deref().unwrap_or(""),
                    role,
                    &password,
                )
                .await?;
            out.staff(&[added])
        }
        Command::Staff(StaffCommand::List) => out.staff(&s.list_staff(&actor().await?).await?),
        Command::Settings(SettingsCommand::Show) => {
            out.settings(&s.settings(&actor().await?).await?)
        }
        Command::Settings(SettingsCommand::Set { key, value }) => {
            out.setting_changed(&s.set_setting(&actor().await?, &key, &value).await?)
        }
        Command::Patients(PatientsCommand::Add(p)) => {
            let new = NewPatient {
                name: p.name,
                email: p.email,
                phone: p.phone,
                patient_type: p.patient_type,
            };
            out.patients(&[s.add_patient(&actor().await?, new).await?])
        }
        Command::Patients(PatientsCommand::Search { query }) => {
            out.patients(&s.search_patients(&actor().await?, &query.join(" ")).await?)
        }
        Command::Patients(PatientsCommand::Show { id }) => {
            out.profile(&s.patient_profile(&actor().await?, id).await?)
        }
        Command::Cards(CardsCommand::List { patient }) => {
            out.cards(&s.list_cards(&actor().await?, patient).await?)
        }
        Command::Audit(AuditCommand::Verify) => {
            out.audit(&s.require_intact_activity_log(&actor().await?).await?)
        }
        Command::Overview => out.overview(&s.front_desk_overview(&actor().await?).await?),
        Command::ProcessorLog { payment, patient } => {
            out.processor_log(&s.processor_log(&actor().await?, payment, patient).await?)
        }
        Command::Sim(_) => unreachable!("handled before the database is opened"),
    }
    Ok(())
}

async fn acting(s: &Services, name: Option<&str>) -> Result<Actor, ServiceError> {
    match name {
        Some(n) => s.actor_by_username(n).await,
        None => Err(ServiceError::NotSignedIn(
            "Say who is acting with --as NAME (or CLINICPAY_STAFF); the demo clinic has frontdesk, manager and it.".into(),
        )),
    }
}

fn read_password() -> Result<String, ServiceError> {
    let mut buf = String::new();
    std::io::stdin().read_to_string(&mut buf).map_err(|e| {
        ServiceError::Invalid(format!("Cannot read the password from stdin ({e})."))
    })?;
    let pw = buf.lines().next().unwrap_or("").to_owned();
    if pw.is_empty() {
        return Err(ServiceError::Invalid(
            "Give the new account's password on stdin.".into(),
        ));
    }
    Ok(pw)
}
