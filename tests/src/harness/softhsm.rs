//! SoftHSM2 tokens for the PKCS#11 tests: each test its own `SOFTHSM2_CONF` and token folder,
//! one token with a unique label (tests find it by label: its slot number changes), an RSA
//! key imported into it and marked not extractable, and the public key read back from the
//! token as SPKI PEM, the outside judge's key for openssl.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use rsa::pkcs8::{EncodePublicKey, LineEnding};
use rsa::{BigUint, RsaPublicKey};

/// The user PIN of every test token.
pub const PIN: &str = "246810";
const SO_PIN: &str = "13579135";

/// Where Debian's `softhsm2` package puts the module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 configuration and token folder of one test.
#[derive(Debug)]
pub struct SoftHsm {
    pub conf: PathBuf,
    pub tokens: PathBuf,
    pub label: String,
}

impl SoftHsm {
    /// A fresh token labelled `mfa-<random>` in `dir/softhsm`.
    pub fn new(dir: &Path) -> SoftHsm {
        let base = dir.join("softhsm");
        let tokens = base.join("tokens");
        fs::create_dir_all(&tokens).expect("token folder");
        let conf = base.join("softhsm2.conf");
        fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .expect("softhsm2.conf");
        let label = format!("mfa-{:08x}", rand::random::<u32>());
        let hsm = SoftHsm {
            conf,
            tokens,
            label,
        };
        hsm.util(&[
            "--init-token",
            "--free",
            "--label",
            &hsm.label,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
        hsm
    }

    /// A second token in the same configuration, labelled `label`, with user PIN `pin`.
    pub fn add_token(&self, label: &str, pin: &str) {
        self.util(&[
            "--init-token",
            "--free",
            "--label",
            label,
            "--pin",
            pin,
            "--so-pin",
            SO_PIN,
        ]);
    }

    /// The variable every process that opens the token needs.
    pub fn env(&self) -> (&'static str, OsString) {
        ("SOFTHSM2_CONF", self.conf.clone().into_os_string())
    }

    fn util(&self, args: &[&str]) {
        let out = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .expect("run softhsm2-util (Debian package softhsm2)");
        assert!(
            out.status.success(),
            "softhsm2-util {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Imports a PKCS#8 PEM key as `label` with CKA_ID `id` (hex), makes sure the token will
    /// never let it out (CKA_EXTRACTABLE false, CKA_SENSITIVE true), and returns the public
    /// key read back from the token, written as SPKI PEM to `public_out`.
    pub fn import(&self, key: &Path, key_label: &str, id_hex: &str, public_out: &Path) -> PathBuf {
        self.import_into(&self.label, PIN, key, key_label, id_hex, public_out)
    }

    /// [`SoftHsm::import`] into the token labelled `token`, whose user PIN is `pin`.
    pub fn import_into(
        &self,
        token: &str,
        pin: &str,
        key: &Path,
        key_label: &str,
        id_hex: &str,
        public_out: &Path,
    ) -> PathBuf {
        let key_path = key.to_str().expect("UTF-8 path");
        self.util(&[
            "--import", key_path, "--token", token, "--label", key_label, "--id", id_hex, "--pin",
            pin,
        ]);
        let id = hex(id_hex);
        let (n, e) = self.with_token(token, |context, slot| {
            public_of_imported(context, slot, pin, id)
        });
        let key = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
            .expect("an RSA public key");
        let pem = key.to_public_key_pem(LineEnding::LF).expect("PEM");
        fs::write(public_out, pem).expect("write the public key");
        public_out.to_path_buf()
    }

    /// Runs `f` with SoftHSM2 loaded and the slot of the token labelled `token`. SoftHSM2
    /// reads SOFTHSM2_CONF at C_Initialize: it is set for this process only while the library
    /// is open, one test at a time.
    fn with_token<T>(&self, token: &str, f: impl FnOnce(&Pkcs11, Slot) -> T) -> T {
        let _guard = ENV_LOCK.lock().unwrap_or_else(|p| p.into_inner());
        std::env::set_var("SOFTHSM2_CONF", &self.conf);
        let context = Pkcs11::new(MODULE).expect("load SoftHSM2");
        context
            .initialize(CInitializeArgs::OsThreads)
            .expect("C_Initialize");
        let slot = context
            .get_slots_with_initialized_token()
            .expect("slots")
            .into_iter()
            .find(|s| {
                context
                    .get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == token)
            })
            .expect("the token by its label");
        let result = f(&context, slot);
        context.finalize();
        std::env::remove_var("SOFTHSM2_CONF");
        result
    }

    /// True when the token labelled `token` counts a failed user login (SoftHSM2 then sets
    /// `CKF_USER_PIN_COUNT_LOW`, and clears it at the next good login).
    pub fn failed_logins_counted(&self, token: &str) -> bool {
        self.with_token(token, |context, slot| {
            context
                .get_token_info(slot)
                .expect("the token's info")
                .user_pin_count_low()
        })
    }
}

/// Logs in to the token in `slot`, makes sure the key `id` is not extractable and is
/// sensitive, and returns its public key's modulus and exponent as read from the token.
fn public_of_imported(context: &Pkcs11, slot: Slot, pin: &str, id: Vec<u8>) -> (Vec<u8>, Vec<u8>) {
    let session = context.open_rw_session(slot).expect("session");
    session
        .login(UserType::User, Some(&AuthPin::new(pin.into())))
        .expect("login");
    let private = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id.clone()),
        ])
        .expect("find the private key");
    let private = *private.first().expect("the imported private key");
    let marks = [AttributeType::Extractable, AttributeType::Sensitive];
    let before = session
        .get_attributes(private, &marks)
        .expect("read the key's marks");
    if !before.contains(&Attribute::Extractable(false)) {
        // softhsm2-util may import keys extractable; a key may always be made less so.
        session
            .update_attributes(private, &[Attribute::Extractable(false)])
            .expect("mark the key not extractable");
    }
    let attributes = session
        .get_attributes(private, &marks)
        .expect("read the key's marks");
    assert!(
        attributes.contains(&Attribute::Extractable(false))
            && attributes.contains(&Attribute::Sensitive(true)),
        "the imported key must not be extractable: {attributes:?}"
    );
    let public = session
        .find_objects(&[Attribute::Class(ObjectClass::PUBLIC_KEY), Attribute::Id(id)])
        .expect("find the public key");
    let public = *public.first().expect("the imported public key");
    let (mut n, mut e) = (Vec::new(), Vec::new());
    for attribute in session
        .get_attributes(
            public,
            &[AttributeType::Modulus, AttributeType::PublicExponent],
        )
        .expect("read the public key")
    {
        match attribute {
            Attribute::Modulus(v) => n = v,
            Attribute::PublicExponent(v) => e = v,
            _ => {}
        }
    }
    (n, e)
}

/// SoftHSM2 reads SOFTHSM2_CONF once per C_Initialize: tests that open a token in this
/// process take turns.
static ENV_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}
