complete -c mfa-login -l key -d 'The agent key to sign with: a SHA256: fingerprint (or a prefix of one) or its comment. Needed when the agent holds more than one key' -r -f -a "(mfa-add -l 2>/dev/null | cut -d' ' -f2)"
complete -c mfa-login -l new-key -d 'The agent key `user change-mfa token-sign` registers for the user logged in (key rotation: log in with --key, register --new-key). Default: the agent\'s only key' -r -f -a "(mfa-add -l 2>/dev/null | cut -d' ' -f2)"
complete -c mfa-login -l token-file -d 'The token file to sign, when COMMAND\'s arguments or the typed login do not say' -r -F
complete -c mfa-login -l password-file -d 'Answer a login\'s own `Enter password:` with the first line of F (mode 0600 or stricter), for unattended use. Never typed into a prompt that sets a password' -r -F
complete -c mfa-login -l timeout -d 'Seconds to wait for the agent; without a terminal on stdin, also for the whole run' -r
complete -c mfa-login -l debug -d 'Write the transcript to FILE (stderr when FILE is `-` or left out)' -r -F
complete -c mfa-login -s v -l verbose -d 'Write a transcript to stderr (passwords and anything typed without echo redacted)'
complete -c mfa-login -s h -l help -d 'Print help'
complete -c mfa-login -s V -l version -d 'Print version'
