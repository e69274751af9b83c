//! Our vendor extensions (SSH_AGENTC_EXTENSION, `name@domain`): token signing, each key's
//! purpose, and the mark of a locked agent; and OpenSSH's `query`.

use crate::purpose::{KeyPurposes, Purpose};
use crate::signing::TOKEN_LEN;
use crate::tokenfile::check_count;
use crate::wire::{Reader, Writer};
use crate::{Error, Result};

/// The `query` extension: lists the extensions an agent supports.
pub const QUERY_EXTENSION: &str = "query";

/// Sign CloudHSM tokens by the raw-digest rule.
pub const TOKEN_SIGN_EXTENSION: &str = "cloudhsm-token-sign@cloudhsm-mfa";

/// Each key's purpose (see [`crate::purpose`]): mfa-login and mfa-sign choose among the
/// `token` keys only; an identities answer lists every key, SSH keys too.
pub const KEY_PURPOSES_EXTENSION: &str = "key-purposes@cloudhsm-mfa";

/// Listed in mfa-agent's `query` reply while it is locked, and only then (it is a mark, not an
/// extension to call): a locked mfa-agent lists no keys, like an empty one or a plain
/// ssh-agent, and this tells them apart. A plain ssh-agent answers no `query`.
pub const LOCKED_MARK: &str = "locked@cloudhsm-mfa";

/// Why the agent refused this connection's last request: a cause's name and its words (both
/// empty when the last request was not refused). FAILURE carries no reason; our clients ask.
pub const WHY_EXTENSION: &str = "why@cloudhsm-mfa";

/// What the last add-smartcard-key on this connection loaded: the comments of the keys the
/// agent now holds from it, then the tokens it left out (label, cause, words).
pub const CARD_LOADED_EXTENSION: &str = "card-loaded@cloudhsm-mfa";

/// The variables that tell PKCS#11 providers where their tokens are (`SOFTHSM2_CONF`,
/// `TPM2_PKCS11_STORE`, ...) as the agent has them: names and values. Its helpers load
/// providers with the agent's environment, not the client's; a client compares.
pub const PROVIDER_ENV_EXTENSION: &str = "provider-env@cloudhsm-mfa";

/// The variables [`PROVIDER_ENV_EXTENSION`] reports.
pub const PROVIDER_LOCATION_VARIABLES: [&str; 2] = ["SOFTHSM2_CONF", "TPM2_PKCS11_STORE"];

/// The last chain mark (`#H`) the agent's log wrote, empty before its first line: what
/// `mfa-add --verify-log` compares a log file's end with.
pub const LOG_HEAD_EXTENSION: &str = "log-head@cloudhsm-mfa";

/// The confirmations waiting for `mfa-add --approve` (an agent without askpass): a count,
/// then each question's u32 id and text.
pub const APPROVALS_EXTENSION: &str = "approvals@cloudhsm-mfa";

/// `mfa-add --approve`'s answer: the question's u32 id, then a byte, 1 yes, 0 no.
pub const APPROVE_EXTENSION: &str = "approve@cloudhsm-mfa";

pub(crate) fn encode_approvals(w: &mut Writer, waiting: &[(u32, String)]) {
    w.string(APPROVALS_EXTENSION.as_bytes())
        .u32(waiting.len() as u32);
    for (id, question) in waiting {
        w.u32(*id).string(question.as_bytes());
    }
}

pub(crate) fn decode_approvals(r: &mut Reader<'_>) -> Result<Vec<(u32, String)>> {
    let count = r.u32()? as usize;
    let mut waiting = Vec::with_capacity(count.min(r.remaining() / 8));
    for _ in 0..count {
        waiting.push((r.u32()?, r.utf8()?.to_owned()));
    }
    Ok(waiting)
}

/// Listed in mfa-agent's `query` reply when it has no askpass program (neither
/// `MFA_ASKPASS` nor `SSH_ASKPASS` where it runs): every use of a confirm-on-use key would be
/// refused, so `mfa-add -c` says so before adding one.
pub const NO_ASKPASS_MARK: &str = "no-askpass@cloudhsm-mfa";

/// Sign these tokens, in order, with the key whose blob is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSignRequest {
    pub key_blob: Vec<u8>,
    pub tokens: Vec<[u8; TOKEN_LEN]>,
    /// What the signatures are for, as the client claims it (`a login as officer1 (admin)`),
    /// for the confirmation question and the audit line; empty when it does not say. Sent
    /// after the tokens only when not empty, so older requests still decode.
    pub about: String,
}

/// The longest `about` the agent takes.
pub const MAX_ABOUT: usize = 256;

pub(crate) fn encode_token_sign(w: &mut Writer, req: &TokenSignRequest) {
    w.string(TOKEN_SIGN_EXTENSION.as_bytes())
        .string(&req.key_blob)
        .u32(req.tokens.len() as u32);
    for token in &req.tokens {
        w.string(token);
    }
    if !req.about.is_empty() {
        w.string(req.about.as_bytes());
    }
}

pub(crate) fn decode_token_sign(r: &mut Reader<'_>) -> Result<TokenSignRequest> {
    let key_blob = r.string()?.to_vec();
    let count = r.u32()? as usize;
    check_count(count)?;
    let mut tokens = Vec::with_capacity(count);
    for index in 1..=count {
        let raw = r.string()?;
        let token: [u8; TOKEN_LEN] = raw.try_into().map_err(|_| Error::TokenLength {
            index,
            len: raw.len(),
        })?;
        tokens.push(token);
    }
    let about = if r.is_empty() {
        String::new()
    } else {
        // Shown to a person and logged: printable, one line, bounded.
        let said: String = r.utf8()?.chars().take(MAX_ABOUT).collect();
        said.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    Ok(TokenSignRequest {
        key_blob,
        tokens,
        about,
    })
}

/// A count, then that many pairs of a key blob and its purpose as text.
pub(crate) fn encode_key_purposes(w: &mut Writer, keys: &[(Vec<u8>, Purpose)]) {
    w.u32(keys.len() as u32);
    for (blob, purpose) in keys {
        w.string(blob).string(purpose.as_str().as_bytes());
    }
}

pub(crate) fn decode_key_purposes(r: &mut Reader<'_>) -> Result<KeyPurposes> {
    let count = r.u32()? as usize;
    // Each pair takes at least its two 4-byte lengths: the count cannot ask for more than is
    // there.
    let mut keys = Vec::with_capacity(count.min(r.remaining() / 8));
    for _ in 0..count {
        let blob = r.string()?.to_vec();
        keys.push((blob, Purpose::parse(r.utf8()?)?));
    }
    Ok(keys)
}
