complete -c mfa-add -s t -d 'Forget the added keys after LIFE' -r
complete -c mfa-add -l confirm-for -d 'Ask for confirmation as -c, but let a yes stand for LIFE for the same kind of request from this machine (a 7-HSM login or a run of quorum approvals then asks once); never for a request through a forwarded agent' -r
complete -c mfa-add -l forwarded -d 'What the added keys do for a request through a forwarded agent (ssh -A, ForwardAgent, ssh -R): sign (allow, the default, as OpenSSH), ask first (confirm), or refuse (deny: the keys sign only for programs on this machine)' -r -f -a "allow\t''
confirm\t''
deny\t''"
complete -c mfa-add -l purpose -d 'What the added keys sign: CloudHSM tokens only (token, the default), SSH requests only (ssh, what ssh-add adds), or both (token,ssh: the key then signs any SHA-256 digest for whoever can reach the agent; avoid it)' -r -f -a "token\t''
ssh\t''
token\,ssh\t''
ssh\,token\t''"
complete -c mfa-add -l passphrase-file -d 'Read the passphrase from the first line of FILE' -r -F
complete -c mfa-add -l verify-log -d 'Check the agent log FILE\'s hash chain (a line deleted, moved or edited), and that it ends with the running agent\'s last line (cut or rolled back)' -r -F
complete -c mfa-add -s s -d 'Load the RSA keys of the PKCS#11 provider\'s tokens (as ssh-add -s)' -r -F
complete -c mfa-add -s e -d 'Remove the keys loaded from the PKCS#11 provider (as ssh-add -e)' -r -F
complete -c mfa-add -l pin-file -d 'Read the token PIN from the first line of FILE (with -s; mode 0600)' -r -F
complete -c mfa-add -l label -d 'With -s: only the token key with this label (CKA_LABEL)' -r
complete -c mfa-add -l id -d 'With -s: only the token key with this id (CKA_ID, hex; also matches the id stored as that text)' -r
complete -c mfa-add -l token -d 'With -s: only the keys of the token with this label' -r
complete -c mfa-add -s c -d 'Ask for confirmation (MFA_ASKPASS/SSH_ASKPASS) before each use of the added keys'
complete -c mfa-add -s l -d 'List the fingerprints of the agent\'s keys'
complete -c mfa-add -s L -d 'List the agent\'s public keys as PEM (SPKI, BEGIN PUBLIC KEY)'
complete -c mfa-add -l approve -d 'Answer the confirmations waiting in an agent that has no askpass program, one by one, at this terminal'
complete -c mfa-add -s d -d 'Remove the keys given as KEYFILE or SHA256:FINGERPRINT'
complete -c mfa-add -s D -d 'Remove every key'
complete -c mfa-add -s x -d 'Lock the agent with a passphrase'
complete -c mfa-add -s X -d 'Unlock the agent'
complete -c mfa-add -l force -d 'Add keys to an agent that is not mfa-agent (a plain ssh-agent) all the same'
complete -c mfa-add -s h -l help -d 'Print help'
complete -c mfa-add -s V -l version -d 'Print version'
