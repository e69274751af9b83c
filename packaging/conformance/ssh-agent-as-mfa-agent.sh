#!/bin/sh
# Runs mfa-agent with ssh-agent's command line, so that a script written for ssh-agent
# (OpenSSH's regress tests: TEST_SSH_SSHAGENT=this file) drives mfa-agent instead.
#
#   ssh-agent [-c | -s] [-Dd] [-a SOCK] [-E HASH] [-O OPT] [-P PROVIDERS] [-t LIFE] [CMD [ARG...]]
#   ssh-agent [-c | -s] -k
#
# What it maps: mfa-agent names its variables MFA_AUTH_SOCK and MFA_AGENT_PID where ssh-agent
# says SSH_AUTH_SOCK and SSH_AGENT_PID, so the shell commands it prints are renamed, -k reads
# SSH_AGENT_PID, and CMD is started with the SSH_ names set. -a, -c, -s, -d, -D, -k, -P and
# -t mean the same to both agents and pass through. -E (fingerprint hash of the debug log) and
# -O (ssh-agent's options) have no mfa-agent counterpart and are dropped with a warning.
#
# MFA_AGENT names the mfa-agent binary (default: mfa-agent on PATH).
set -u

agent=${MFA_AGENT:-mfa-agent}
mode=fork
shell_flag=
opts=

usage() {
	echo "usage: $0 [-c | -s] [-Dd] [-a SOCK] [-P PROVIDERS] [-t LIFE] [CMD [ARG...]]" >&2
	exit 2
}

while getopts "cDdksE:a:O:P:t:" opt; do
	case "$opt" in
	c|s) shell_flag="-$opt" ;;
	D|d) mode=foreground; opts="$opts -$opt" ;;
	k) mode=kill ;;
	a) opts="$opts -a $OPTARG" ;;
	P) opts="$opts -P $OPTARG" ;;
	t) opts="$opts -t $OPTARG" ;;
	E|O) echo "$0: ssh-agent option -$opt $OPTARG has no mfa-agent counterpart; ignored" >&2 ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))

rename() {
	sed -e 's/MFA_AUTH_SOCK/SSH_AUTH_SOCK/g' -e 's/MFA_AGENT_PID/SSH_AGENT_PID/g'
}

case "$mode" in
kill)
	out=$(MFA_AGENT_PID=${SSH_AGENT_PID:-} "$agent" $shell_flag -k) || exit $?
	printf '%s\n' "$out" | rename
	;;
foreground)
	# exec, so that the caller's $! is the agent itself.
	# shellcheck disable=SC2086
	exec "$agent" $opts $shell_flag
	;;
*)
	if [ $# -gt 0 ]; then
		# shellcheck disable=SC2086,SC2016
		exec "$agent" $opts -- sh -c 'SSH_AUTH_SOCK=$MFA_AUTH_SOCK SSH_AGENT_PID=$MFA_AGENT_PID
export SSH_AUTH_SOCK SSH_AGENT_PID
exec "$@"' ssh-agent-cmd "$@"
	fi
	# shellcheck disable=SC2086
	out=$("$agent" $opts $shell_flag) || exit $?
	printf '%s\n' "$out" | rename
	;;
esac
