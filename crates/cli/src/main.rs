//! `clinicpay`: ClinicPay's services on the command line, for IT's scripts, workers, reports and tests.
//! The names, JSON shapes and exit codes follow DESIGN.md's "CLI contract": scripts outside this
//! repository rely on them. Each subcommand is a few lines over one service call.
//! Long because the whole contract's command tree (clap) and its dispatch are kept in one place, so a
//! reader can check every name against DESIGN.md at once.

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use clinicpay_domain::{
    Clock, FixedClock, Gateway, InvoiceId, NewPatient, OrderId, PatientId, PatientType, PaymentId,
    PaymentMethodId, RecoveryStatus, Role, SubscriptionId, SystemClock,
};
use clinicpay_gateways::Secret;
use clinicpay_services::billing::CheckoutSource;
use clinicpay_services::cards::AddCard;
use clinicpay_services::credentials::secret_name;
use clinicpay_services::gateways::check_failure;
use clinicpay_services::{Actor, ServiceError, Services};
use clinicpay_store::Store;

mod output;
mod sim;
use output::Out;

/// A test build says so, so nobody ships one by mistake (see `clinicpay_services::TEST_BUILD`).
const VERSION: &str = if clinicpay_services::TEST_BUILD {
    concat!(env!("CARGO_PKG_VERSION"), " (test build: not for a clinic)")
} else {
    env!("CARGO_PKG_VERSION")
};

#[derive(Parser)]
#[command(
    name = "clinicpay",
    version = VERSION,
    about = "ClinicPay: patients' saved cards and the money that moves through them"
)]
struct Cli {
    /// Database: a SQLite file or a postgres:// URL (default: the managed configuration's, else clinicpay.db in the OS app-data folder).
    #[arg(long, global = true, env = "CLINICPAY_DB")]
    db: Option<String>,
    /// Fix the clock, e.g. 2026-11-23T10:00:00Z.
    #[arg(long, global = true, value_parser = parse_now)]
    now: Option<DateTime<Utc>>,
    /// Print one JSON value on stdout (errors as {"error": {"code", "message"}}).
    #[arg(long, global = true)]
    json: bool,
    /// The staff member acting (sign-in name); their password comes from CLINICPAY_PASSWORD or, at a
    /// terminal, a prompt.
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
    /// Gateway credentials and checks.
    #[command(subcommand)]
    Gateway(GatewayCommand),
    /// Takes one payment now, with a saved card or a card token from the hosted fields.
    Checkout {
        patient: PatientId,
        #[arg(long)]
        amount: String,
        /// A saved card of the patient.
        #[arg(long, conflicts_with_all = ["token", "gateway", "save"])]
        card: Option<PaymentMethodId>,
        /// A hosted-field token of the active gateway.
        #[arg(long, requires = "gateway", required_unless_present = "card")]
        token: Option<String>,
        #[arg(long)]
        gateway: Option<Gateway>,
        /// Keep the new card as a saved card.
        #[arg(long)]
        save: bool,
        /// Names this checkout: run again with the same key (after an unknown outcome), it answers from
        /// the first run's invoice and never charges a second time.
        #[arg(long)]
        attempt: Option<String>,
    },
    /// Invoices.
    #[command(subcommand)]
    Invoices(InvoicesCommand),
    /// Subscriptions and plan switches.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// Orders, recovery and retries.
    #[command(subcommand)]
    Orders(OrdersCommand),
    /// Payments.
    #[command(subcommand)]
    Payments(PaymentsCommand),
    /// Refunds.
    #[command(subcommand)]
    Refunds(RefundsCommand),
    /// Runs due work until stopped: subscription cycles, recovery retries and deadlines, and settling
    /// payments and refunds whose outcome is unknown. It is the clinic's billing engine while it holds
    /// the engine's lease (one engine per database, desks included); `--once` runs one pass regardless.
    #[command(args_conflicts_with_subcommands = true)]
    Worker {
        /// One pass, then exit.
        #[arg(long)]
        once: bool,
        #[command(subcommand)]
        command: Option<WorkerCommand>,
    },
    /// The activity log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The front desk's overview: counts, expiring cards, who needs a call.
    Overview,
    /// Matches the gateways' charges and refunds of a period (UTC days, both included; yesterday by
    /// default) to ClinicPay's records. Exit 0 clean, 3 differences found, 5 a gateway unavailable.
    Reconcile {
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        #[arg(long)]
        gateway: Option<Gateway>,
    },
    /// Cards expiring within DAYS (60 unless given), or already expired.
    Expiring {
        #[arg(long)]
        within: Option<u32>,
        #[arg(long)]
        expired: bool,
        /// individual or business.
        #[arg(long = "type")]
        patient_type: Option<PatientType>,
        /// Only the default cards that pay a subscription to this plan (document 000's Service Type).
        #[arg(long)]
        service: Option<String>,
    },
    /// Card expiry reminders by email.
    #[command(subcommand)]
    Reminders(RemindersCommand),
    /// Billing manager reports.
    #[command(subcommand)]
    Reports(ReportsCommand),
    /// The reminder mail server.
    #[command(subcommand)]
    Smtp(SmtpCommand),
    /// Document 003's "what to check" for a patient (or one of their orders), as data.
    Checks {
        patient: PatientId,
        #[arg(long)]
        order: Option<OrderId>,
    },
    /// The escalation report: every detail document 003 asks for; `--pdf FILE` also writes it as a PDF.
    Escalation {
        patient: PatientId,
        #[arg(long)]
        order: Option<OrderId>,
        #[arg(long)]
        pdf: Option<std::path::PathBuf>,
        /// The exact patient- or staff-facing message that was on screen (document 003).
        #[arg(long)]
        message: Option<String>,
    },
    /// Redacted gateway calls, newest first.
    ProcessorLog {
        /// Only the calls of this payment (our payment number).
        #[arg(long)]
        payment: Option<PaymentId>,
        /// Only the calls made for this patient.
        #[arg(long)]
        patient: Option<PatientId>,
        /// Only the calls whose operation, outcome, payment key, request or response mention this.
        #[arg(long)]
        search: Option<String>,
    },
    /// Every desk that runs ClinicPay on this database: version, database, last seen (IT).
    Desks,
    /// Writes the diagnostics bundle for support: a zip with version, settings, desks, recent app logs
    /// and gateway call counts, without card numbers, secrets or patient details.
    Diagnostics {
        /// The zip to write (default: clinicpay-diagnostics-DATE-TIME.zip here).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
    /// The built-in gateway simulator.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum SimCommand {
    /// Serve NMI's Payment and Query APIs, a Stripe-compatible subset under /stripe and the hosted-field
    /// stand-ins until stopped; prints the base URL.
    Serve {
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Keep the simulated gateways' vault, ledger and Stripe objects in this file across restarts.
        #[arg(long)]
        state: Option<std::path::PathBuf>,
        /// Accept only this NMI security key (any non-empty key otherwise). A simulator key, not a real one.
        #[arg(long)]
        nmi_key: Option<String>,
        /// Accept only this Stripe secret key (any `sk_…` key otherwise). A simulator key, not a real one.
        #[arg(long)]
        stripe_key: Option<String>,
        /// Close NMI's batch every day at this time (UTC, HH:MM), as a real account's nightly
        /// settlement does: sales pending settlement become complete, with a `settle` action.
        #[arg(long, value_parser = parse_time_of_day)]
        batch_close: Option<chrono::NaiveTime>,
        /// Refuse a second NMI sale of the same amount on the same card within this many seconds, as
        /// a merchant account's duplicate check does (a sale's own `dup_seconds` overrides it).
        #[arg(long)]
        dup_seconds: Option<u32>,
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
    /// The card network renews saved cards at a running simulator, as Stripe's automatic updates or
    /// NMI's Account Updater would: the gateway's look-ups then answer the new expiry (and number).
    RenewCard {
        #[arg(long = "sim")]
        sim: String,
        #[arg(long)]
        gateway: clinicpay_domain::Gateway,
        /// The last four digits of the saved cards to renew.
        #[arg(long)]
        card: String,
        /// The new expiry, MM/YY.
        #[arg(long)]
        exp: String,
        /// A replacement test card number, when the issuer changed the number too.
        #[arg(long)]
        number: Option<String>,
    },
    /// Completes a simulated Stripe Checkout setup session as the patient would on its page.
    CompleteSetup {
        /// The simulator's base URL (as `sim serve` printed it).
        #[arg(long = "sim")]
        sim: String,
        /// The Checkout Session's id (`cs_test_…`), as `cards link` printed it.
        #[arg(long)]
        session: String,
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
    /// Copy this desk's SQLite clinic into an empty PostgreSQL database (several desks), and verify it.
    Copy {
        /// The PostgreSQL address: postgres://USER@HOST/DATABASE.
        #[arg(long)]
        to: String,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Fill an empty database with the deterministic demo clinic.
    Seed {
        #[arg(long, default_value_t = clinicpay_services::demo::DEFAULT_PATIENTS)]
        patients: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// A clinic group's data: years of history, about two saved cards and ten invoices a patient
        /// (what the benchmarks run on: --patients 200000 --clinic-group).
        #[arg(long)]
        clinic_group: bool,
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
    /// Switch an account off: it cannot sign in, and its open sessions end at their next command.
    Disable {
        name: String,
    },
    /// Switch an account on again.
    Enable {
        name: String,
    },
    /// Give an account another role (from its next command).
    Role {
        name: String,
        role: Role,
    },
    /// Set a new password for NAME, read from stdin (it also ends a lock-out).
    ResetPassword {
        name: String,
    },
    /// Change your own password (--as you, the current one in CLINICPAY_PASSWORD or the prompt); the
    /// new one is read from stdin.
    Password,
}

#[derive(Subcommand)]
enum WorkerCommand {
    /// The worker account's sign-in on this computer.
    #[command(subcommand)]
    Credentials(WorkerCredentialsCommand),
    /// The billing engine: which desk or service runs it, its last pass, the work due, the last error.
    Status,
}

#[derive(Subcommand)]
enum WorkerCredentialsCommand {
    /// Checks the worker account's password (read from stdin) and keeps it in this computer's
    /// keychain, so `clinicpay worker` signs in by itself: `--as NAME` names the worker account.
    Set,
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
    /// Saves a card from a hosted-field token of the active gateway.
    Add {
        patient: PatientId,
        #[arg(long)]
        gateway: Gateway,
        #[arg(long)]
        token: String,
        /// The cardholder's name as typed; the patient's name when left out.
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        country: Option<String>,
        #[arg(long)]
        nickname: Option<String>,
    },
    /// Makes a card the patient's default.
    Default { card: PaymentMethodId },
    /// The subscriptions and unpaid invoices a card pays, and what would pay each without it.
    Dependents { card: PaymentMethodId },
    /// A zero-amount check of a saved card at its gateway: exit 0 verified, 4 refused by the bank
    /// (its words), 5 no answer. Nothing is charged.
    Verify { card: PaymentMethodId },
    /// A secure card link for the patient (Stripe's page for their customer, 24 hours): prints the
    /// link, its session id and expiry; `--send` emails it with the clinic's template.
    Link {
        patient: PatientId,
        #[arg(long)]
        send: bool,
        /// The recovery order the link is for.
        #[arg(long)]
        order: Option<OrderId>,
    },
    /// The secure card links made for a patient, newest first, and what became of each.
    Links { patient: PatientId },
    /// Asks the gateways now for the patient's cards (or every card expiring within the largest
    /// reminder threshold) and takes what the card networks renewed: checked, renewed, unchanged,
    /// could not check.
    Refresh { patient: Option<PatientId> },
    /// Deletes a card at its gateway, then here.
    Delete {
        card: PaymentMethodId,
        /// Required to delete the patient's last card.
        #[arg(long)]
        confirm_last: bool,
    },
}

#[derive(Subcommand)]
enum InvoicesCommand {
    /// An invoice for the patient.
    Create {
        patient: PatientId,
        #[arg(long)]
        amount: String,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Pays an open invoice on the active gateway.
    Pay {
        invoice: InvoiceId,
        /// The card the patient chose; another card of the active gateway is used if it does not match.
        #[arg(long)]
        card: Option<PaymentMethodId>,
    },
    /// Invoices, newest first.
    List { patient: Option<PatientId> },
}

#[derive(Subcommand)]
enum OrdersCommand {
    /// Orders, newest first.
    List {
        #[arg(long)]
        recovery: Option<RecoveryStatus>,
        patient: Option<PatientId>,
    },
    /// An order with its invoice and every payment attempt.
    Show { order: OrderId },
    /// Retries a subscription-cycle or switch-payoff order now.
    Retry {
        order: OrderId,
        /// Charge through this gateway instead of the active one.
        #[arg(long)]
        gateway: Option<Gateway>,
    },
}

#[derive(Subcommand)]
enum SubscriptionsCommand {
    /// A subscription whose first cycle is billed by the worker's next pass.
    Create {
        patient: PatientId,
        #[arg(long)]
        plan: String,
        #[arg(long)]
        amount: String,
        #[arg(long, value_parser = ["month", "week"])]
        every: String,
    },
    /// Subscriptions, newest first.
    List { patient: Option<PatientId> },
    /// Moves a subscription to another plan; the difference for the rest of the cycle is charged now.
    Switch {
        subscription: SubscriptionId,
        #[arg(long)]
        plan: String,
        #[arg(long)]
        amount: String,
    },
}

#[derive(Subcommand)]
enum PaymentsCommand {
    /// Payments, newest first.
    List { patient: Option<PatientId> },
}

#[derive(Subcommand)]
enum RefundsCommand {
    /// Refunds a payment (all that is left, or --amount) through the gateway that took it.
    Create {
        payment: PaymentId,
        #[arg(long)]
        amount: Option<String>,
    },
}

#[derive(Subcommand)]
enum GatewayCommand {
    /// Gateway secrets in this computer's keychain.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// Makes a harmless call to each gateway and says whether this computer's credentials work.
    Check,
    /// Before switching the active gateway to TO: patients with a subscription or unpaid invoice and no
    /// valid card for it, and subscriptions locked to the other gateway. `--notify` emails those with a
    /// card on file to re-save it.
    Readiness {
        #[arg(long)]
        to: Gateway,
        #[arg(long)]
        notify: bool,
    },
}

#[derive(Subcommand)]
enum RemindersCommand {
    /// Sends the automatic reminders that are due (thresholds reached, refused sends due again).
    Run,
    /// Sends a reminder now for each card (at most once a card a day).
    Notify {
        #[arg(required = true)]
        cards: Vec<PaymentMethodId>,
    },
    /// The newest reminders, refused ones first.
    List { patient: Option<PatientId> },
}

#[derive(Subcommand)]
enum ReportsCommand {
    /// Per gateway: payments, success rate, declines by code, refunds, unknown outcomes, the recovery
    /// funnel, for whole days FROM..TO (YYYY-MM-DD; the last 30 days by default).
    Gateway {
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// Also write it as CSV to this file.
        #[arg(long)]
        csv: Option<std::path::PathBuf>,
        /// Also write it as PDF to this file.
        #[arg(long)]
        pdf: Option<std::path::PathBuf>,
    },
    /// Failed payments, newest first, with the gateway's words; SEARCH matches the patient, the code or
    /// the message.
    FailedPayments { search: Option<String> },
}

#[derive(Subcommand)]
enum SmtpCommand {
    /// The mail server password.
    #[command(subcommand)]
    Password(SmtpPasswordCommand),
}

#[derive(Subcommand)]
enum SmtpPasswordCommand {
    /// Stores it, read from standard input, in this computer's keychain.
    Set,
}

#[derive(Subcommand)]
enum CredentialsCommand {
    /// Stores the gateway's secret, read from standard input, in this computer's keychain.
    Set { gateway: Gateway },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check that no activity-log entry was edited, deleted or inserted behind ClinicPay's back.
    Verify {
        /// Also check the anchors in this file (lines from `audit anchor`, or an app log): a log
        /// rewritten since no longer holds the entries they name.
        #[arg(long)]
        anchor: Option<std::path::PathBuf>,
    },
    /// Print the activity log's head as one line, to keep outside the database (append it to a file
    /// on another computer): `audit verify --anchor FILE` then shows a log rewritten since.
    Anchor,
}

/// The exit code of a command that succeeded but has news for scripts (`reconcile`: 3 differences,
/// 5 a gateway unavailable); 0 otherwise.
static EXIT: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn main() -> ExitCode {
    quiet_on_a_closed_pipe();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
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
    let code = match runtime.block_on(run(cli, &out)) {
        Ok(()) => ExitCode::from(EXIT.load(std::sync::atomic::Ordering::Relaxed)),
        Err(e) => out.error(&e),
    };
    // A keychain call stuck behind an unanswered unlock prompt must not keep the process alive.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    code
}

/// `clinicpay … | head`: once the reader has gone, the command ends as Unix tools do (SIGPIPE), not
/// with a panic on a write to a closed pipe. Rust starts programs with SIGPIPE ignored.
fn quiet_on_a_closed_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// A command line clap refuses: with `--json` one JSON error on stdout (code `usage`), exit 2, as
/// every other error is for scripts; otherwise clap's own text. Help and version print as usual.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let asked_json = std::env::args_os().skip(1).any(|a| a == "--json");
    if !asked_json
        || matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        )
    {
        e.exit();
    }
    let text = e.render().to_string();
    // clap's first line says what is wrong; the usage lines after it are for people at a terminal.
    let message = text
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("error: ")
        .to_owned();
    let v = serde_json::json!({"error": {"code": "usage", "message": format!("{message} (see clinicpay --help)")}});
    println!("{v}");
    ExitCode::from(2)
}

async fn run(cli: Cli, out: &Out) -> Result<(), ServiceError> {
    if let Command::Sim(command) = cli.command {
        return sim::run(command, out).await;
    }
    // IT's managed configuration of this computer: its database unless one is named, and its pins.
    let managed = clinicpay_services::managed::Managed::load()?;
    let url = managed.database_url(cli.db)?;
    let store = Store::open_with(&url, &managed.database_trust()).await?;
    let clock: Arc<dyn Clock> = match cli.now {
        Some(t) => Arc::new(FixedClock(t)),
        None => Arc::new(SystemClock),
    };
    let mut s = Services::new(store, clock).with_managed(managed);
    if clinicpay_services::TEST_BUILD && std::env::var_os("CLINICPAY_AS_SHIPPED").is_some() {
        s = s.as_shipped();
    }
    if cli.now.is_some() {
        s.allow_fixed_clock().await?;
    }
    let as_staff = cli.as_staff;
    let actor = || async { acting(&s, as_staff.as_deref()).await };

    match cli.command {
        Command::Db(DbCommand::Migrate) => out.migrated(&clinicpay_store::redact_url(&url)),
        Command::Db(DbCommand::Copy { to }) => {
            out.copied(&s.copy_to_postgres(&copy_target(&to)?).await?)
        }
        Command::Demo(DemoCommand::Seed {
            patients,
            seed,
            clinic_group,
        }) => {
            let a = match as_staff.as_deref() {
                Some(_) => Some(actor().await?),
                None => None,
            };
            let size = clinicpay_services::demo::DemoSize {
                patients,
                seed,
                clinic_group,
            };
            out.seeded(&s.seed_demo_sized(a.as_ref(), size).await?)
        }
        Command::Staff(StaffCommand::Add {
            name,
            role,
            display_name,
        }) => {
            let a = match as_staff.as_deref() {
                Some(_) => Some(actor().await?),
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
            out.one(added, Out::staff)
        }
        Command::Staff(StaffCommand::List) => out.staff(&s.list_staff(&actor().await?).await?),
        Command::Staff(StaffCommand::Disable { name }) => out.one(
            s.set_staff_active(&actor().await?, &name, false).await?,
            Out::staff,
        ),
        Command::Staff(StaffCommand::Enable { name }) => out.one(
            s.set_staff_active(&actor().await?, &name, true).await?,
            Out::staff,
        ),
        Command::Staff(StaffCommand::Role { name, role }) => out.one(
            s.set_staff_role(&actor().await?, &name, role).await?,
            Out::staff,
        ),
        Command::Staff(StaffCommand::ResetPassword { name }) => {
            let a = actor().await?;
            out.one(
                s.reset_staff_password(&a, &name, &read_password()?).await?,
                Out::staff,
            )
        }
        Command::Staff(StaffCommand::Password) => {
            let name = as_staff.as_deref().ok_or_else(|| {
                ServiceError::NotSignedIn("Say whose password it is with --as NAME.".into())
            })?;
            // One prompt: the current password signs in and proves the change.
            let current = password_of(name)?;
            let a = sign_in_cli(&s, name, &current).await?;
            s.change_own_password(&a, &current, &read_password()?)
                .await?;
            out.message("Your password is changed: use the new one from now on.");
        }
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
            out.one(s.add_patient(&actor().await?, new).await?, Out::patients)
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
        Command::Cards(CardsCommand::Add {
            patient,
            gateway,
            token,
            name,
            country,
            nickname,
        }) => {
            let card = AddCard {
                gateway,
                token,
                cardholder_name: name,
                country,
                nickname,
            };
            let change = s.add_card(&actor().await?, patient, card).await?;
            // A saved card retries the patient's recovery orders (the desktop app does it in the background).
            let _ = s
                .retry_recovery_for_patient(patient, Some(change.card.id))
                .await;
            out.card_change(&change)
        }
        Command::Cards(CardsCommand::Verify { card }) => {
            out.card_verified(&s.verify_card(&actor().await?, card).await?)
        }
        Command::Cards(CardsCommand::Link {
            patient,
            send,
            order,
        }) => out.card_link(
            &s.create_card_link(&actor().await?, patient, order, send)
                .await?,
        ),
        Command::Cards(CardsCommand::Refresh { patient }) => {
            out.card_refresh(&s.refresh_cards(&actor().await?, patient).await?)
        }
        Command::Cards(CardsCommand::Links { patient }) => {
            out.card_links(&s.card_links(&actor().await?, patient).await?)
        }
        Command::Cards(CardsCommand::Dependents { card }) => {
            out.card_dependents(&s.card_dependents(&actor().await?, card).await?)
        }
        Command::Cards(CardsCommand::Default { card }) => {
            out.card_change(&s.set_default_card(&actor().await?, card).await?)
        }
        Command::Cards(CardsCommand::Delete { card, confirm_last }) => {
            out.card_change(&s.delete_card(&actor().await?, card, confirm_last).await?)
        }
        Command::Gateway(GatewayCommand::Credentials(CredentialsCommand::Set { gateway })) => {
            let a = actor().await?;
            let secret = read_secret(gateway)?;
            out.credentials_stored(&s.set_gateway_credentials(&a, gateway, secret).await?)
        }
        Command::Checkout {
            patient,
            amount,
            card,
            token,
            gateway,
            save,
            attempt,
        } => {
            let a = actor().await?;
            let amount = s.parse_amount(&amount).await?;
            let source = match (card, token, gateway) {
                (Some(card), _, _) => CheckoutSource::SavedCard(card),
                (None, Some(token), Some(gateway)) => CheckoutSource::NewCard {
                    card: AddCard {
                        gateway,
                        token,
                        cardholder_name: None,
                        country: None,
                        nickname: None,
                    },
                    save,
                },
                _ => {
                    return Err(ServiceError::Invalid(
                        "Give --card CARD, or --token T --gateway G from the card form.".into(),
                    ))
                }
            };
            out.payment(
                &s.checkout_attempt(&a, patient, amount, source, attempt.as_deref())
                    .await?,
            )
        }
        Command::Invoices(InvoicesCommand::Create {
            patient,
            amount,
            description,
        }) => {
            let a = actor().await?;
            let amount = s.parse_amount(&amount).await?;
            out.one(
                s.create_invoice(&a, patient, amount, &description).await?,
                Out::invoices,
            )
        }
        Command::Invoices(InvoicesCommand::Pay { invoice, card }) => {
            out.payment(&s.pay_invoice(&actor().await?, invoice, card).await?)
        }
        Command::Invoices(InvoicesCommand::List { patient }) => {
            out.invoices(&s.list_invoices(&actor().await?, patient).await?)
        }
        Command::Orders(OrdersCommand::List { recovery, patient }) => {
            out.orders(&s.list_orders(&actor().await?, patient, recovery).await?)
        }
        Command::Orders(OrdersCommand::Show { order }) => {
            out.order(&s.order_details(&actor().await?, order).await?)
        }
        Command::Orders(OrdersCommand::Retry { order, gateway }) => {
            out.payment(&s.retry_order(&actor().await?, order, gateway).await?)
        }
        Command::Subscriptions(SubscriptionsCommand::Create {
            patient,
            plan,
            amount,
            every,
        }) => {
            let a = actor().await?;
            let amount = s.parse_amount(&amount).await?;
            out.one(
                s.create_subscription(&a, patient, &plan, amount, &every)
                    .await?,
                Out::subscriptions,
            )
        }
        Command::Subscriptions(SubscriptionsCommand::List { patient }) => {
            out.subscriptions(&s.list_subscriptions(&actor().await?, patient).await?)
        }
        Command::Subscriptions(SubscriptionsCommand::Switch {
            subscription,
            plan,
            amount,
        }) => {
            let a = actor().await?;
            let amount = s.parse_amount(&amount).await?;
            out.switched(&s.switch_plan(&a, subscription, &plan, amount).await?)
        }
        Command::Payments(PaymentsCommand::List { patient }) => {
            out.payments(&s.list_payments(&actor().await?, patient).await?)
        }
        Command::Refunds(RefundsCommand::Create { payment, amount }) => {
            let a = actor().await?;
            let amount = match amount {
                Some(text) => Some(s.parse_amount(&text).await?),
                None => None,
            };
            out.refund(&s.refund_payment(&a, payment, amount).await?)
        }
        Command::Worker {
            command: Some(WorkerCommand::Status),
            ..
        } => out.engine_status(&s.engine_status(&actor().await?).await?),
        Command::Worker {
            command: Some(WorkerCommand::Credentials(WorkerCredentialsCommand::Set)),
            ..
        } => {
            let name = as_staff.as_deref().ok_or_else(|| {
                ServiceError::NotSignedIn(
                    "Name the worker account with --as NAME, and give its password on stdin."
                        .into(),
                )
            })?;
            out.message(&s.set_worker_credentials(name, &read_password()?).await?);
        }
        Command::Worker {
            once,
            command: None,
        } => {
            // The worker signs in as itself: --as, or the worker account stored on this computer.
            let a = match as_staff.as_deref() {
                Some(_) => actor().await?,
                None => s.sign_in_stored_worker().await?,
            };
            a.require(clinicpay_domain::Permission::RunBilling)?;
            // A copy of the activity log's head outside the database, in the service's journal.
            if let Ok(anchor) = s.activity_anchor().await {
                eprintln!("clinicpay worker: {}", anchor.line);
            }
            // Cards saved at any desk retry their patients' recovery orders here at once (PostgreSQL).
            if !once {
                s.retry_recovery_when_any_desk_saves_a_card(a.clone());
            }
            if once {
                out.worker_pass(&s.run_worker_pass_as(&a).await?);
            } else {
                // The clinic's one billing engine while it holds the lease (a desk app may hold it;
                // this one waits and takes over). Only a signal (Ctrl+C, or SIGTERM from a service
                // manager) ends it; a failed pass is said on stderr and the worker backs off.
                let role = clinicpay_services::engine::EngineRole {
                    name: clinicpay_services::desk_inventory::computer_name(
                        s.managed().config.desk_name.as_deref(),
                    ),
                    kind: clinicpay_services::engine::HolderKind::Service,
                };
                s.run_engine(
                    role,
                    Some(a),
                    clinicpay_services::engine::EnginePace::default(),
                    |event| eprintln!("clinicpay worker: {}", output::engine_event(&event)),
                    stop_signal(),
                )
                .await;
            }
        }
        Command::Gateway(GatewayCommand::Readiness { to, notify }) => {
            let a = actor().await?;
            if notify {
                out.reminders_run(&s.request_card_resave(&a, to).await?)
            } else {
                out.readiness(&s.gateway_readiness(&a, to).await?)
            }
        }
        Command::Gateway(GatewayCommand::Check) => {
            let report = s.check_gateways(&actor().await?).await?;
            // With --json a failed check prints only the error object: one JSON value per run.
            match check_failure(&report) {
                Some(failure) if out.json => return Err(failure),
                Some(failure) => {
                    out.gateway_checks(&report);
                    return Err(failure);
                }
                None => out.gateway_checks(&report),
            }
        }
        Command::Audit(AuditCommand::Verify { anchor: None }) => {
            out.audit(&s.require_intact_activity_log(&actor().await?).await?)
        }
        Command::Audit(AuditCommand::Verify { anchor: Some(file) }) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                ServiceError::Invalid(format!("Cannot read {} ({e}).", file.display()))
            })?;
            out.audit(
                &s.verify_activity_log_against(&actor().await?, &text)
                    .await?,
            )
        }
        Command::Audit(AuditCommand::Anchor) => {
            actor()
                .await?
                .require(clinicpay_domain::Permission::VerifyAudit)?;
            out.anchor(&s.activity_anchor().await?)
        }
        Command::Overview => out.overview(&s.front_desk_overview(&actor().await?).await?),
        Command::Reconcile { from, to, gateway } => {
            let yesterday = (s.now() - chrono::Duration::days(1)).date_naive();
            let (from, to) = match (from, to) {
                (Some(f), Some(t)) => (f, t),
                (Some(f), None) => (f, f.max(yesterday)),
                (None, Some(t)) => (t, t),
                (None, None) => (yesterday, yesterday),
            };
            let result = s.reconcile(&actor().await?, from, to, gateway).await?;
            out.reconciliation(&result);
            // The contract's codes: 5 when a gateway could not be asked, 3 when anything differs.
            EXIT.store(
                if result.unavailable() {
                    5
                } else if result.clean {
                    0
                } else {
                    3
                },
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        Command::Expiring {
            within,
            expired,
            patient_type,
            service,
        } => {
            let filter = clinicpay_services::reminders::ExpiringFilter {
                within_days: within,
                expired,
                patient_type,
                service,
                ..Default::default()
            };
            out.expiring(&s.expiring_cards(&actor().await?, &filter).await?)
        }
        Command::Reports(ReportsCommand::Gateway { from, to, csv, pdf }) => {
            let a = actor().await?;
            let report = s.gateway_report(&a, from, to).await?;
            for file in [csv, pdf].into_iter().flatten() {
                s.export_gateway_report(&a, &report, &file).await?;
            }
            out.gateway_report(&report)
        }
        Command::Reports(ReportsCommand::FailedPayments { search }) => out.payments(
            &s.failed_payments(&actor().await?, search.as_deref())
                .await?,
        ),
        Command::Reminders(RemindersCommand::Run) => {
            out.reminders_run(&s.run_reminders_for(&actor().await?).await?)
        }
        Command::Reminders(RemindersCommand::Notify { cards }) => {
            out.reminders_run(&s.notify_cards(&actor().await?, &cards).await?)
        }
        Command::Reminders(RemindersCommand::List { patient }) => {
            out.reminders(&s.list_reminders(&actor().await?, patient).await?)
        }
        Command::Smtp(SmtpCommand::Password(SmtpPasswordCommand::Set)) => {
            let a = actor().await?;
            let mut buf = String::new();
            std::io::stdin().read_to_string(&mut buf).map_err(|e| {
                ServiceError::Invalid(format!(
                    "Cannot read the mail server password from standard input ({e})."
                ))
            })?;
            out.message(&s.set_smtp_password(&a, Secret::new(buf.trim())).await?)
        }
        Command::Checks { patient, order } => {
            out.checks(&s.what_to_check(&actor().await?, patient, order).await?)
        }
        Command::Escalation {
            patient,
            order,
            pdf,
            message,
        } => {
            let report = s
                .escalation_report(&actor().await?, patient, order, message.as_deref())
                .await?;
            if let Some(file) = &pdf {
                clinicpay_services::desk::write_escalation_pdf(&report, file)?;
            }
            out.escalation(&report, pdf.as_deref())
        }
        Command::ProcessorLog {
            payment,
            patient,
            search,
        } => {
            let a = actor().await?;
            match search {
                Some(text) => out.processor_log(&s.search_processor_log(&a, &text).await?),
                None => out.processor_log(&s.processor_log(&a, payment, patient).await?),
            }
        }
        Command::Desks => out.desks(&s.list_desks(&actor().await?).await?),
        Command::Diagnostics { out: file } => {
            let file = file.unwrap_or_else(|| {
                format!(
                    "clinicpay-diagnostics-{}.zip",
                    s.now().format("%Y%m%d-%H%M%S")
                )
                .into()
            });
            let request = clinicpay_services::diagnostics::DiagnosticsRequest {
                app_version: env!("CARGO_PKG_VERSION"),
                desk: None,
                log_dir: clinicpay_services::diagnostics::log_dir(),
                out: file,
            };
            out.diagnostics(&s.write_diagnostics(&actor().await?, request, &url).await?)
        }
        Command::Sim(_) => unreachable!("handled before the database is opened"),
    }
    Ok(())
}

/// Signs NAME in with their password: a script names the person acting and proves it, so the activity
/// log says who did what and a desk user cannot act as IT by typing IT's name.
async fn acting(s: &Services, name: Option<&str>) -> Result<Actor, ServiceError> {
    let Some(name) = name else {
        return Err(ServiceError::NotSignedIn(
            "Say who is acting with --as NAME (or CLINICPAY_STAFF), with NAME's password in CLINICPAY_PASSWORD; the demo clinic has frontdesk, manager and it, password demo.".into(),
        ));
    };
    sign_in_cli(s, name, &password_of(name)?).await
}

async fn sign_in_cli(s: &Services, name: &str, password: &str) -> Result<Actor, ServiceError> {
    match s.sign_in_via(name, password, "cli").await {
        Err(ServiceError::SignInFailed) => Err(ServiceError::NotSignedIn(format!(
            "The password for {name} is not right (or there is no such account): check CLINICPAY_PASSWORD. Five wrong passwords in a row lock the name for 15 minutes."
        ))),
        other => other,
    }
}

/// NAME's password: CLINICPAY_PASSWORD, else a prompt when a person is at a terminal. Never an
/// argument: arguments show in process lists and shell history.
fn password_of(name: &str) -> Result<String, ServiceError> {
    if let Ok(p) = std::env::var("CLINICPAY_PASSWORD") {
        return Ok(p);
    }
    // A file (its first line): how a service gets it, e.g. systemd's LoadCredential= and
    // CLINICPAY_PASSWORD_FILE=%d/…, so the password is in no environment and no process list.
    if let Some(file) = std::env::var_os("CLINICPAY_PASSWORD_FILE").filter(|f| !f.is_empty()) {
        let text = std::fs::read_to_string(&file).map_err(|e| {
            ServiceError::NotSignedIn(format!(
                "The password file {} (CLINICPAY_PASSWORD_FILE) cannot be read ({e}): check the path and that this account may read it.",
                std::path::Path::new(&file).display()
            ))
        })?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        if let Ok(p) = rpassword::prompt_password(format!("Password for {name}: ")) {
            return Ok(p);
        }
    }
    Err(ServiceError::NotSignedIn(format!(
        "Acting as {name} needs {name}'s password: set CLINICPAY_PASSWORD or CLINICPAY_PASSWORD_FILE, or run the command at a terminal to be asked for it."
    )))
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

/// `db copy --to`'s address with its password from PGPASSWORD or standard input, never from the
/// command line (arguments show in process lists and shell history).
fn copy_target(to: &str) -> Result<String, ServiceError> {
    let Ok(mut url) = url::Url::parse(to) else {
        return Ok(to.to_owned()); // not an address: `copy_to_postgres` says what it wants
    };
    if url.password().is_some() {
        return Err(ServiceError::Invalid(
            "Leave the password out of --to: it would show in process lists and shell history. Give it in PGPASSWORD, or on standard input.".into(),
        ));
    }
    let password = match std::env::var("PGPASSWORD") {
        Ok(p) => p,
        Err(_) if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            rpassword::prompt_password("Password for the PostgreSQL database (empty for none): ")
                .unwrap_or_default()
        }
        Err(_) => {
            let mut buf = String::new();
            let _ = std::io::stdin().read_to_string(&mut buf);
            buf.lines().next().unwrap_or("").to_owned()
        }
    };
    if !password.is_empty() && url.set_password(Some(&password)).is_err() {
        return Err(ServiceError::Invalid(
            "--to must be a postgres:// address with a user and a host.".into(),
        ));
    }
    Ok(url.to_string())
}

/// A gateway secret from standard input (never an argument: arguments show in process lists and shell
/// history). One line; surrounding whitespace from a paste or `echo` is dropped.
fn read_secret(gateway: Gateway) -> Result<Secret, ServiceError> {
    let mut buf = String::new();
    std::io::stdin().read_to_string(&mut buf).map_err(|e| {
        ServiceError::Invalid(format!(
            "Cannot read the {} from standard input ({e}).",
            secret_name(gateway)
        ))
    })?;
    Ok(Secret::new(buf.trim()))
}

/// Resolves when the process is asked to stop: Ctrl+C, or SIGTERM on Unix.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// "02:00" → 02:00:00, for `sim serve --batch-close`.
fn parse_time_of_day(text: &str) -> Result<chrono::NaiveTime, String> {
    chrono::NaiveTime::parse_from_str(text, "%H:%M")
        .map_err(|_| format!("\"{text}\" is not a time of day: give it as HH:MM, e.g. 02:00"))
}
