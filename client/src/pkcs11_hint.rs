//! What to do about each PKCS#11 cause the agent names (`why@cloudhsm-mfa`): one hint per
//! cause, so "must match -P" is said for the allowlist only and "check the PIN" for a PIN
//! only. A token or key the agent does not find while the user's shell does is, most often,
//! the agent's own environment: it is compared with the user's.

use proto::extensions::PROVIDER_LOCATION_VARIABLES;
use proto::pkcs11::Pkcs11Cause;

/// The hint for `cause` about `provider` (empty when unknown). `agent_env` is what the agent
/// reports of its provider variables, when it was asked (see [`asks_environment`]).
pub fn hint(cause: Pkcs11Cause, provider: &str, agent_env: Option<&[(String, String)]>) -> String {
    let provider = if provider.is_empty() {
        "PROVIDER"
    } else {
        provider
    };
    match cause {
        Pkcs11Cause::ProviderNotAllowed => format!(
            "the provider must match mfa-agent -P (default /usr/lib*/*,/usr/local/lib*/*): \
             start the agent with -P {provider}"
        ),
        Pkcs11Cause::NotAProvider => format!(
            "{provider} is not a PKCS#11 library: name the provider's .so (e.g. \
             /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so)"
        ),
        // SoftHSM2 without its SOFTHSM2_CONF fails to initialise: the environment again.
        Pkcs11Cause::ProviderLoadFailed => {
            agent_env.and_then(environment_differs).unwrap_or_else(|| {
                "the agent could not load this PKCS#11 library: check the path; the agent's \
                 log has the library's own error"
                    .to_owned()
            })
        }
        Pkcs11Cause::NoToken | Pkcs11Cause::NoMatchingKey => {
            match agent_env.and_then(environment_differs) {
                Some(hint) => hint,
                None if cause == Pkcs11Cause::NoToken => {
                    "plug the token in (and check --token against the token's label)".to_owned()
                }
                None => "check --label/--id against the token's keys (pkcs11-tool --list-objects)"
                    .to_owned(),
            }
        }
        Pkcs11Cause::PinIncorrect => {
            "check the PIN (--pin-file F, first line); it was tried once, so the token counted \
             one failure"
                .to_owned()
        }
        Pkcs11Cause::PinLocked => {
            "unlock the PIN with the token's own tools (its SO PIN), then add it again".to_owned()
        }
        Pkcs11Cause::TokenRemoved | Pkcs11Cause::HelperCrashed | Pkcs11Cause::HelperTimeout => {
            format!(
                "the token is gone (unplugged, reset, or its provider crashed): plug it in and \
                 run mfa-add -e {provider}; mfa-add -s {provider}"
            )
        }
        Pkcs11Cause::TokenFailed => {
            format!(
                "the token refused; {} has its error",
                crate::error::AGENT_LOG
            )
        }
    }
}

/// True for the causes whose hint compares the agent's environment with the user's.
pub fn asks_environment(cause: Pkcs11Cause) -> bool {
    matches!(
        cause,
        Pkcs11Cause::NoToken | Pkcs11Cause::NoMatchingKey | Pkcs11Cause::ProviderLoadFailed
    )
}

/// The hint when a provider variable the user has set is missing or different in the agent.
fn environment_differs(agent_env: &[(String, String)]) -> Option<String> {
    let mine = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    differing(agent_env, mine).map(|(name, value)| {
        let other = PROVIDER_LOCATION_VARIABLES
            .iter()
            .find(|n| **n != name)
            .map_or_else(String::new, |n| format!(" (or {n}=...)"));
        format!(
            "the agent loads providers with its own environment: start it with \
             {name}={value}{other}"
        )
    })
}

/// The first provider variable the user has (`mine`) that the agent lacks or has otherwise.
fn differing(
    agent_env: &[(String, String)],
    mine: impl Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    PROVIDER_LOCATION_VARIABLES.iter().find_map(|name| {
        let value = mine(name)?;
        let agents = agent_env.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        (agents != Some(&value)).then_some((*name, value))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cause_gets_its_own_hint() {
        let p = "/usr/lib/softhsm/libsofthsm2.so";
        let allow = hint(Pkcs11Cause::ProviderNotAllowed, p, None);
        assert!(allow.contains("must match mfa-agent -P"), "{allow}");
        for cause in [
            Pkcs11Cause::NoToken,
            Pkcs11Cause::NoMatchingKey,
            Pkcs11Cause::PinIncorrect,
            Pkcs11Cause::TokenRemoved,
            Pkcs11Cause::HelperCrashed,
        ] {
            assert!(!hint(cause, p, None).contains("-P"), "{cause:?}");
        }
        assert!(hint(Pkcs11Cause::PinIncorrect, p, None).contains("check the PIN"));
        assert!(!hint(Pkcs11Cause::TokenRemoved, p, None).contains("PIN"));
        let gone = hint(Pkcs11Cause::HelperCrashed, p, None);
        assert!(
            gone.contains(&format!("mfa-add -e {p}; mfa-add -s {p}")),
            "{gone}"
        );
    }

    #[test]
    fn a_variable_the_agent_lacks_or_has_otherwise_is_named() {
        let mine = |name: &str| (name == "TPM2_PKCS11_STORE").then(|| "/home/me/.tpm2".to_owned());
        assert_eq!(
            differing(&[], mine),
            Some(("TPM2_PKCS11_STORE", "/home/me/.tpm2".to_owned()))
        );
        let other = [("TPM2_PKCS11_STORE".to_owned(), "/elsewhere".to_owned())];
        assert!(differing(&other, mine).is_some());
        let same = [("TPM2_PKCS11_STORE".to_owned(), "/home/me/.tpm2".to_owned())];
        assert_eq!(differing(&same, mine), None);
        assert_eq!(differing(&[], |_| None), None);
    }
}
