//! The one error type of the protocol crate; each variant says what went wrong and where.

/// Everything that can go wrong while decoding, validating or signing.
///
/// Token positions are 1-based, as a person counts them in the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("the token file is not JSON: {0}")]
    NotJson(String),
    #[error("unknown token file: {0}")]
    UnknownKind(String),
    #[error("unsupported token file version {found:?} (expected {expected:?})")]
    UnknownVersion {
        found: String,
        expected: &'static str,
    },
    #[error("the token file is {len} bytes, over the limit of {max} bytes")]
    FileTooLarge { len: usize, max: usize },
    #[error("the token file holds no tokens")]
    NoTokens,
    #[error("the token file holds {count} tokens, over the limit of {max}")]
    TooManyTokens { count: usize, max: usize },
    #[error("token {index}: field {field:?} is missing or not a string")]
    MissingField { index: usize, field: &'static str },
    #[error("token {index}: {field:?} is not valid base64")]
    NotBase64 { index: usize, field: &'static str },
    #[error("token {index} is {len} bytes, not 32 (a CloudHSM token is a SHA-256 digest)")]
    TokenLength { index: usize, len: usize },
    #[error("token {index} is not the SHA-256 of its approval_data; refusing to sign it")]
    ApprovalMismatch { index: usize },
    #[error("token {index}: approval_data is {len} bytes, over the limit of {max} bytes")]
    ApprovalTooLong {
        index: usize,
        len: usize,
        max: usize,
    },
    #[error("a quorum approval needs the approver's user name (--approver NAME)")]
    ApproverRequired,
    #[error("{got} signatures for {expected} tokens")]
    SignatureCount { expected: usize, got: usize },

    #[error("invalid digest length {0}: a CloudHSM token is 32 bytes")]
    InvalidDigestLength(usize),
    #[error("the RSA key is {bits} bits; CloudHSM MFA needs at least {min}")]
    KeyTooSmall { bits: usize, min: usize },
    #[error("the signature does not verify with this public key")]
    BadSignature,
    #[error("RSA: {0}")]
    Rsa(#[from] rsa::Error),

    #[error("frame of {len} bytes is over the limit of {max} bytes")]
    FrameTooLarge { len: usize, max: usize },
    #[error("empty frame")]
    EmptyFrame,
    #[error("message truncated")]
    Truncated,
    #[error("{extra} unexpected bytes after the message")]
    TrailingBytes { extra: usize },
    #[error("unsupported message id {id}")]
    Unsupported { id: u8 },
    #[error("unsupported key type {0:?}: only RSA keys and RSA certificates (ssh-rsa-cert-v01@openssh.com) are supported")]
    NotRsa(String),
    #[error("malformed RSA certificate: {0}")]
    BadCertificate(&'static str),
    #[error("unsupported key constraint {0}")]
    UnsupportedConstraint(String),
    #[error("unknown key purpose {0:?}: use token, ssh or token,ssh")]
    BadPurpose(String),
    #[error("malformed session-bind@openssh.com: {0}")]
    BadSessionBind(&'static str),
    #[error("destination constraint: {0}")]
    BadDestination(&'static str),
    #[error("a string in the message is not UTF-8")]
    NotUtf8,
    #[error("unexpected reply from the agent: {0}")]
    UnexpectedResponse(&'static str),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
