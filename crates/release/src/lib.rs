//! ClinicPay's release tool: makes the release key, signs bundles with it in the format
//! `tauri-plugin-updater` verifies (minisign, base64), and writes the update manifest of a channel.
//!
//! Layout it writes under OUT (IT serves OUT as the update endpoint):
//! `OUT/CHANNEL/latest.json` and `OUT/CHANNEL/VERSION/<bundle>` with `<bundle>.sig` beside it.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Serialize;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A new release key pair: the private key (base64 of minisign's encrypted key box, as the Tauri
/// CLI writes it) and the public key (base64 of the public key box, for `tauri.conf.json`).
pub fn keygen(password: &str) -> Result<(String, String), Error> {
    let kp = minisign::KeyPair::generate_encrypted_keypair(Some(password.to_owned()))?;
    let private = B64.encode(kp.sk.to_box(Some("ClinicPay release key"))?.to_string());
    let public = B64.encode(kp.pk.to_box()?.to_string());
    Ok((private, public))
}

/// Signs `data` (the bundle `file_name` of `version`): the `.sig` text desks check it against. The
/// trusted comment carries the version, so a manifest cannot pair this bundle with another number.
pub fn sign(
    private_key: &str,
    password: &str,
    data: &[u8],
    file_name: &str,
    version: &str,
) -> Result<String, Error> {
    let boxed = String::from_utf8(B64.decode(private_key.trim())?)?;
    let sk = minisign::SecretKeyBox::from_string(&boxed)?
        .into_secret_key(Some(password.to_owned()))
        .map_err(|e| format!("the release key cannot be opened ({e}): check its password"))?;
    let trusted = format!(
        "timestamp:{}\tfile:{file_name}\tversion:{version}",
        chrono::Utc::now().timestamp()
    );
    let sig = minisign::sign(
        None,
        &sk,
        std::io::Cursor::new(data),
        Some(&trusted),
        Some("signature from the ClinicPay release key"),
    )?;
    Ok(B64.encode(sig.to_string()))
}

/// Which updater target a bundle serves, by its file name as `tauri build` names it.
pub fn target_of(file_name: &str) -> Option<String> {
    let arch = if file_name.contains("aarch64") || file_name.contains("arm64") {
        "aarch64"
    } else {
        "x86_64"
    };
    let (os, kind) = if file_name.ends_with(".deb") {
        ("linux", "deb")
    } else if file_name.ends_with(".rpm") {
        ("linux", "rpm")
    } else if file_name.ends_with(".AppImage") || file_name.ends_with(".AppImage.tar.gz") {
        ("linux", "appimage")
    } else if file_name.ends_with("-setup.exe") {
        ("windows", "nsis")
    } else if file_name.ends_with(".msi") {
        ("windows", "msi")
    } else if file_name.ends_with(".app.tar.gz") {
        ("darwin", "app")
    } else {
        return None;
    };
    Some(format!("{os}-{arch}-{kind}"))
}

#[derive(Debug, Serialize)]
pub struct Platform {
    pub signature: String,
    pub url: String,
}

/// Tauri's static update manifest, plus `minimum_version` (ClinicPay's: desks below it must update).
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub version: String,
    pub notes: String,
    pub pub_date: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_version: Option<String>,
    pub platforms: std::collections::BTreeMap<String, Platform>,
}

pub struct Release<'a> {
    pub version: &'a str,
    pub channel: &'a str,
    pub notes: &'a str,
    pub minimum_version: Option<&'a str>,
    /// Where OUT will be served from, as desks reach it (their `updates.endpoint`).
    pub base_url: &'a str,
    pub bundles: &'a [PathBuf],
    pub out: &'a Path,
    pub private_key: &'a str,
    pub password: &'a str,
}

/// Copies and signs the bundles and writes the channel's manifest; answers the manifest's path.
pub fn publish(r: &Release) -> Result<(PathBuf, Manifest), Error> {
    semver::Version::parse(r.version)
        .map_err(|e| format!("{} is not a version like 1.4.0 ({e})", r.version))?;
    if let Some(min) = r.minimum_version {
        semver::Version::parse(min)
            .map_err(|e| format!("--minimum-version {min} is not a version ({e})"))?;
    }
    if !["stable", "pilot"].contains(&r.channel) {
        return Err(format!("the channel is stable or pilot, not {}", r.channel).into());
    }
    let channel_dir = r.out.join(r.channel);
    let version_dir = channel_dir.join(r.version);
    std::fs::create_dir_all(&version_dir)?;
    let mut platforms = std::collections::BTreeMap::new();
    for bundle in r.bundles {
        let name = bundle
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("{} is not a file", bundle.display()))?;
        let target = target_of(name)
            .ok_or_else(|| format!("{name} is not a bundle desks can install (.deb, .rpm, .AppImage, -setup.exe, .msi, .app.tar.gz)"))?;
        let data =
            std::fs::read(bundle).map_err(|e| format!("cannot read {}: {e}", bundle.display()))?;
        let signature = sign(r.private_key, r.password, &data, name, r.version)?;
        std::fs::write(version_dir.join(name), &data)?;
        std::fs::write(version_dir.join(format!("{name}.sig")), &signature)?;
        let url = format!(
            "{}/{}/{}/{}",
            r.base_url.trim_end_matches('/'),
            r.channel,
            r.version,
            name
        );
        if platforms
            .insert(target.clone(), Platform { signature, url })
            .is_some()
        {
            return Err(format!("two bundles are for {target}: give one of each kind").into());
        }
    }
    if platforms.is_empty() {
        return Err("no bundles were given".into());
    }
    let manifest = Manifest {
        version: r.version.to_owned(),
        notes: r.notes.to_owned(),
        pub_date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        minimum_version: r.minimum_version.map(str::to_owned),
        platforms,
    };
    let path = channel_dir.join("latest.json");
    let part = channel_dir.join("latest.json.part");
    // Written aside then moved: a desk never reads half a manifest.
    std::fs::write(&part, serde_json::to_string_pretty(&manifest)?)?;
    std::fs::rename(&part, &path)?;
    Ok((path, manifest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(public: &str, data: &[u8], signature: &str) -> Result<String, String> {
        let pk_text = String::from_utf8(B64.decode(public).unwrap()).unwrap();
        let pk = minisign_verify::PublicKey::decode(&pk_text).map_err(|e| e.to_string())?;
        let sig_text = String::from_utf8(B64.decode(signature).unwrap()).unwrap();
        let sig = minisign_verify::Signature::decode(&sig_text).map_err(|e| e.to_string())?;
        pk.verify(data, &sig, true).map_err(|e| e.to_string())?;
        Ok(sig.trusted_comment().to_owned())
    }

    #[test]
    fn a_signed_bundle_verifies_with_the_public_key_and_a_changed_one_does_not() {
        let (private, public) = keygen("pw").unwrap();
        let data = b"ClinicPay_0.2.0_amd64.deb contents".to_vec();
        let sig = sign(&private, "pw", &data, "ClinicPay_0.2.0_amd64.deb", "0.2.0").unwrap();
        let trusted = verify(&public, &data, &sig).unwrap();
        assert!(trusted.contains("\tversion:0.2.0"), "{trusted}");
        let mut tampered = data.clone();
        tampered[3] ^= 1;
        assert!(verify(&public, &tampered, &sig).is_err());
        let (_, other_public) = keygen("pw").unwrap();
        assert!(
            verify(&other_public, &data, &sig).is_err(),
            "another key's signature is refused"
        );
        assert!(sign(&private, "wrong", &data, "x.deb", "0.2.0").is_err());
    }

    #[test]
    fn bundles_are_named_by_the_updater_target_they_serve() {
        assert_eq!(
            target_of("ClinicPay_0.2.0_amd64.deb").unwrap(),
            "linux-x86_64-deb"
        );
        assert_eq!(
            target_of("ClinicPay_0.2.0_x64-setup.exe").unwrap(),
            "windows-x86_64-nsis"
        );
        assert_eq!(
            target_of("ClinicPay_0.2.0_x64_en-US.msi").unwrap(),
            "windows-x86_64-msi"
        );
        assert_eq!(
            target_of("ClinicPay_aarch64.app.tar.gz").unwrap(),
            "darwin-aarch64-app"
        );
        assert_eq!(target_of("notes.txt"), None);
    }

    #[test]
    fn publishing_writes_the_channel_manifest_with_signed_urls() {
        let dir = std::env::temp_dir().join(format!("clinicpay-release-{}", std::process::id()));
        let bundles = dir.join("bundles");
        std::fs::create_dir_all(&bundles).unwrap();
        let deb = bundles.join("ClinicPay_0.2.0_amd64.deb");
        std::fs::write(&deb, b"deb bytes").unwrap();
        let (private, public) = keygen("").unwrap();
        let out = dir.join("site");
        let (path, m) = publish(&Release {
            version: "0.2.0",
            channel: "pilot",
            notes: "Faster search",
            minimum_version: Some("0.1.5"),
            base_url: "https://updates.clinic.example/clinicpay/",
            bundles: &[deb],
            out: &out,
            private_key: &private,
            password: "",
        })
        .unwrap();
        assert_eq!(path, out.join("pilot/latest.json"));
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["version"], "0.2.0");
        assert_eq!(json["minimum_version"], "0.1.5");
        let p = &json["platforms"]["linux-x86_64-deb"];
        assert_eq!(
            p["url"],
            "https://updates.clinic.example/clinicpay/pilot/0.2.0/ClinicPay_0.2.0_amd64.deb"
        );
        let served = std::fs::read(out.join("pilot/0.2.0/ClinicPay_0.2.0_amd64.deb")).unwrap();
        verify(&public, &served, p["signature"].as_str().unwrap()).unwrap();
        assert_eq!(m.platforms.len(), 1);
        assert!(publish(&Release {
            version: "two",
            channel: "pilot",
            notes: "",
            minimum_version: None,
            base_url: "x",
            bundles: &[],
            out: &out,
            private_key: &private,
            password: "",
        })
        .is_err());
        std::fs::remove_dir_all(dir).ok();
    }
}
