//! mfa-login and mfa-sign (work in progress).
