//! Key constraints of add-identity and add-smartcard-key requests (RFC 9987 section 3.2.7):
//! lifetime, confirm, our `pkcs11-key@cloudhsm-mfa` extension that names one token key and
//! `token@cloudhsm-mfa` that names its token, our
//! `forwarded@cloudhsm-mfa` (`mfa-add --forwarded`), `purpose@cloudhsm-mfa` and OpenSSH's
//! `restrict-destination-v00@openssh.com` (`ssh-add -h`).

use crate::forwarding::{
    decode_destinations, encode_destinations, DestinationConstraint, ForwardedPolicy,
    FORWARDED_CONSTRAINT, RESTRICT_DESTINATION_CONSTRAINT,
};
use crate::pkcs11::TOKEN_CONSTRAINT;
use crate::purpose::{Purpose, PURPOSE_CONSTRAINT};
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// Key constraint ids (RFC 9987 section 3.2.7).
pub(crate) const CONSTRAIN_LIFETIME: u8 = 1;
pub(crate) const CONSTRAIN_CONFIRM: u8 = 2;
pub(crate) const CONSTRAIN_EXTENSION: u8 = 255;

/// Our constraint extension on an add-smartcard-key request: load only the token key with
/// this label or id (`mfa-add -s --label/--id`). Other agents refuse the add, as they must
/// refuse any constraint they do not know.
pub const PKCS11_KEY_CONSTRAINT: &str = "pkcs11-key@cloudhsm-mfa";

/// Which key of a PKCS#11 token to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFilter {
    /// The key's `CKA_LABEL`.
    Label(String),
    /// The key's `CKA_ID`.
    Id(Vec<u8>),
}

/// A constraint on an added key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// Forget the key after this many seconds.
    Lifetime(u32),
    /// Ask the user before each use.
    Confirm,
    /// `forwarded@cloudhsm-mfa`: what to do for a request through a forwarded connection.
    Forwarded(ForwardedPolicy),
    /// `restrict-destination-v00@openssh.com` (`ssh-add -h`): the hosts the key may be used
    /// through and to.
    Destinations(Vec<DestinationConstraint>),
    /// `purpose@cloudhsm-mfa`: what the key may sign.
    Purpose(Purpose),
    /// `confirm-for@cloudhsm-mfa` (`mfa-add --confirm-for LIFE`): ask before a use, and let
    /// a yes stand this many seconds for the same kind of local request.
    ConfirmFor(u32),
}

/// The name of [`Constraint::ConfirmFor`]; its value is the seconds, a u32.
pub const CONFIRM_FOR_CONSTRAINT: &str = "confirm-for@cloudhsm-mfa";

/// Writes our key filter as a constraint extension: name, then "label" or "id", then the value.
pub(crate) fn encode_key_filter(w: &mut Writer, filter: &KeyFilter) {
    let (kind, value) = match filter {
        KeyFilter::Label(label) => ("label", label.as_bytes()),
        KeyFilter::Id(id) => ("id", &id[..]),
    };
    w.u8(CONSTRAIN_EXTENSION)
        .string(PKCS11_KEY_CONSTRAINT.as_bytes())
        .string(kind.as_bytes())
        .string(value);
}

pub(crate) fn encode_constraint(w: &mut Writer, c: &Constraint) {
    match c {
        Constraint::Lifetime(secs) => {
            w.u8(CONSTRAIN_LIFETIME).u32(*secs);
        }
        Constraint::Confirm => {
            w.u8(CONSTRAIN_CONFIRM);
        }
        Constraint::Forwarded(policy) => {
            w.u8(CONSTRAIN_EXTENSION)
                .string(FORWARDED_CONSTRAINT.as_bytes())
                .string(policy.as_str().as_bytes());
        }
        Constraint::Destinations(destinations) => {
            w.u8(CONSTRAIN_EXTENSION)
                .string(RESTRICT_DESTINATION_CONSTRAINT.as_bytes());
            encode_destinations(w, destinations);
        }
        Constraint::Purpose(purpose) => {
            w.u8(CONSTRAIN_EXTENSION)
                .string(PURPOSE_CONSTRAINT.as_bytes())
                .string(purpose.as_str().as_bytes());
        }
        Constraint::ConfirmFor(secs) => {
            w.u8(CONSTRAIN_EXTENSION)
                .string(CONFIRM_FOR_CONSTRAINT.as_bytes())
                .u32(*secs);
        }
    }
}

/// A constraint of an add-smartcard-key request: a standard one, our key filter, or our
/// token choice ([`crate::pkcs11::TOKEN_CONSTRAINT`]).
pub(crate) enum SmartcardConstraint {
    Plain(Constraint),
    Key(KeyFilter),
    Token(String),
}

/// Writes our token choice as a constraint extension: name, then the token's label.
pub(crate) fn encode_token(w: &mut Writer, label: &str) {
    w.u8(CONSTRAIN_EXTENSION)
        .string(TOKEN_CONSTRAINT.as_bytes())
        .string(label.as_bytes());
}

pub(crate) fn decode_smartcard_constraint(r: &mut Reader<'_>) -> Result<SmartcardConstraint> {
    let mut peek = r.clone();
    if peek.u8()? != CONSTRAIN_EXTENSION {
        return decode_constraint(r).map(SmartcardConstraint::Plain);
    }
    match peek.utf8()? {
        PKCS11_KEY_CONSTRAINT => {}
        TOKEN_CONSTRAINT => {
            let label = peek.utf8()?.to_owned();
            *r = peek;
            return Ok(SmartcardConstraint::Token(label));
        }
        _ => return decode_constraint(r).map(SmartcardConstraint::Plain),
    }
    *r = peek;
    let kind = r.utf8()?.to_owned();
    let value = r.string()?;
    match kind.as_str() {
        "label" => Ok(SmartcardConstraint::Key(KeyFilter::Label(
            String::from_utf8_lossy(value).into_owned(),
        ))),
        "id" => Ok(SmartcardConstraint::Key(KeyFilter::Id(value.to_vec()))),
        other => Err(Error::UnsupportedConstraint(format!(
            "{PKCS11_KEY_CONSTRAINT} by {other:?}"
        ))),
    }
}

pub(crate) fn decode_constraint(r: &mut Reader<'_>) -> Result<Constraint> {
    match r.u8()? {
        CONSTRAIN_LIFETIME => Ok(Constraint::Lifetime(r.u32()?)),
        CONSTRAIN_CONFIRM => Ok(Constraint::Confirm),
        CONSTRAIN_EXTENSION => match r.utf8()? {
            FORWARDED_CONSTRAINT => Ok(Constraint::Forwarded(ForwardedPolicy::decode(r)?)),
            RESTRICT_DESTINATION_CONSTRAINT => {
                Ok(Constraint::Destinations(decode_destinations(r)?))
            }
            PURPOSE_CONSTRAINT => Ok(Constraint::Purpose(Purpose::parse(r.utf8()?)?)),
            CONFIRM_FOR_CONSTRAINT => Ok(Constraint::ConfirmFor(r.u32()?)),
            // An extension constraint we do not know limits the key in a way we cannot
            // honour, so the whole request must fail (as OpenSSH's agent does).
            other => Err(Error::UnsupportedConstraint(other.to_owned())),
        },
        other => Err(Error::UnsupportedConstraint(format!("id {other}"))),
    }
}
