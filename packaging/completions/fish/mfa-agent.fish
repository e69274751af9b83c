complete -c mfa-agent -s a -d 'Bind the socket at PATH' -r -F
complete -c mfa-agent -s t -d 'Default lifetime of added keys' -r
complete -c mfa-agent -l log-file -d 'Log file of a forked agent' -r -F
complete -c mfa-agent -s c -d 'Print C-shell commands'
complete -c mfa-agent -s s -d 'Print Bourne-shell commands'
complete -c mfa-agent -s D -d 'Stay in the foreground'
complete -c mfa-agent -s d -d 'Stay in the foreground and log debug lines to stderr'
complete -c mfa-agent -s k -d 'Kill the agent named by MFA_AGENT_PID'
complete -c mfa-agent -s h -l help -d 'Print help'
complete -c mfa-agent -s V -l version -d 'Print version'
