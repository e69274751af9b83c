complete -c mfa-sign -l key -d 'The agent key to sign with: a SHA256: fingerprint (or a prefix of one) or its comment. Needed when the agent holds more than one key' -r -f -a "(mfa-add -l 2>/dev/null | cut -d' ' -f2)"
complete -c mfa-sign -s o -l output -d 'Write the signed file here instead of rewriting FILE' -r -F
complete -c mfa-sign -l approver -d 'Your user name, for a quorum approval token file' -r
complete -c mfa-sign -l timeout -d 'Seconds to wait for the agent\'s answer' -r
complete -c mfa-sign -l force -d 'Sign a file whose tokens already carry signatures, replacing them'
complete -c mfa-sign -s y -l yes -d 'Do not ask before signing a quorum approval'
complete -c mfa-sign -s h -l help -d 'Print help'
complete -c mfa-sign -s V -l version -d 'Print version'
