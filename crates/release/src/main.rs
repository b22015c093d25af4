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
            // The key signs software every desk will run: it is encrypted with a real password and
            // readable by its owner only.
            if password.chars().count() < 12 {
                return Err("set CLINICPAY_RELEASE_KEY_PASSWORD to a password of at least 12 characters: the release key is stored encrypted with it".into());
            }
            let (private, public) = clinicpay_release::keygen(&password)?;
            write_owner_only(&key, &private)?;
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

/// Creates `path` readable and writable by its owner only (0600 on Unix), never over an existing file.
fn write_owner_only(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
