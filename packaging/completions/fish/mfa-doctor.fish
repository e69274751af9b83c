complete -c mfa-doctor -l key -d 'The key a login would be given with --key: a SHA256: fingerprint (or a prefix of one) or its comment' -r -f -a "(mfa-add -l 2>/dev/null | cut -d' ' -f2)"
complete -c mfa-doctor -s h -l help -d 'Print help'
complete -c mfa-doctor -s V -l version -d 'Print version'
