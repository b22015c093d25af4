//! `clinicpay-release`: the release key, and the signed update manifests IT serves to desks.
//!
//!   clinicpay-release keygen --out DIR
//!   clinicpay-release publish --version 0.2.0 --channel stable --base-url https://updates.clinic.example/clinicpay \
//!       --key DIR/clinicpay-release.key --out SITE [--notes TEXT] [--minimum-version V] BUNDLE...
//!
//! The key's password comes from CLINICPAY_RELEASE_KEY_PASSWORD (empty if unset), never an argument.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "clinicpay-release",
    version,
    about = "Signs ClinicPay bundles and writes update manifests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Makes a release key pair: DIR/clinicpay-release.key (keep it secret, off the repository) and
    /// DIR/clinicpay-release.pub (goes into tauri.conf.json, plugins.updater.pubkey).
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Signs the bundles with the release key and writes OUT/CHANNEL/latest.json.
    Publish {
        #[arg(long)]
        version: String,
        #[arg(long, default_value = "stable")]
        channel: String,
        /// Where OUT is served from, as desks reach it (their updates.endpoint).
        #[arg(long)]
        base_url: String,
        /// The private release key file.
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "")]
        notes: String,
        /// Desks below this version must update (no "Later today").
        #[arg(long)]
        minimum_version: Option<String>,
        /// The bundles tauri build made (.deb, -setup.exe, .msi, .app.tar.gz …).
        #[arg(required = true)]
        bundles: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    let password = std::env::var("CLINICPAY_RELEASE_KEY_PASSWORD").unwrap_or_default();
    let result: Result<(), clinicpay_release::Error> = match Cli::parse().command {
        Command::Keygen { out } => (|| {
            std::fs::create_dir_all(&out)?;
            let key = out.join("clinicpay-release.key");
            if key.exists() {
                return Err(format!(
                    "{} exists: a new key would strand every desk that trusts the old one",
                    key.display()
                )
                .into());
            }
            let (private, public) = clinicpay_release::keygen(&password)?;
            std::fs::write(&key, private)?;
            std::fs::write(out.join("clinicpay-release.pub"), &public)?;
            println!("Release key written to {} (keep it secret).", key.display());
            println!("Public key for tauri.conf.json (plugins.updater.pubkey):\n{public}");
            Ok(())
        })(),
        Command::Publish {
            version,
            channel,
            base_url,
            key,
            out,
            notes,
            minimum_version,
            bundles,
        } => (|| {
            let private_key = std::fs::read_to_string(&key)
                .map_err(|e| format!("cannot read the release key {}: {e}", key.display()))?;
            let (path, manifest) = clinicpay_release::publish(&clinicpay_release::Release {
                version: &version,
                channel: &channel,
                notes: &notes,
                minimum_version: minimum_version.as_deref(),
                base_url: &base_url,
                bundles: &bundles,
                out: &out,
                private_key: &private_key,
                password: &password,
            })?;
            println!(
                "{} written: ClinicPay {} for {}.",
                path.display(),
                manifest.version,
                manifest
                    .platforms
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        })(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clinicpay-release: {e}");
            ExitCode::from(1)
        }
    }
}
