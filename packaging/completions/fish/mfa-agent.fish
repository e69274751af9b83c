complete -c mfa-agent -s a -d 'Bind the socket at PATH' -r -F
complete -c mfa-agent -s P -d 'PKCS#11 providers that may be loaded (ssh-add -s, mfa-add -s): comma-separated patterns matched against the provider\'s real path; `!` refuses' -r
complete -c mfa-agent -s t -d 'Default lifetime of added keys' -r
complete -c mfa-agent -l log -d 'Where the log goes (default: stderr with -D or -d, else the log file)' -r -f -a "syslog\t'The system log (`/dev/log`: syslogd, rsyslog, journald), facility auth'
file\t'The log file (`--log-file`, else under `$XDG_STATE_HOME`)'
stderr\t'Standard error (the foreground only)'"
complete -c mfa-agent -l log-file -d 'Log file of a forked agent (and of --log file)' -r -F
complete -c mfa-agent -s c -d 'Print C-shell commands'
complete -c mfa-agent -s s -d 'Print Bourne-shell commands'
complete -c mfa-agent -s D -d 'Stay in the foreground'
complete -c mfa-agent -s d -d 'Stay in the foreground and log debug lines to stderr'
complete -c mfa-agent -l reuse -d 'Use the agent already running on your per-user socket (or -a PATH), else start one there: `eval "$(mfa-agent --reuse)"` in every shell finds the same agent and keys'
complete -c mfa-agent -s k -d 'Kill the agent named by MFA_AGENT_PID'
complete -c mfa-agent -s h -l help -d 'Print help (see more with \'--help\')'
complete -c mfa-agent -s V -l version -d 'Print version'
