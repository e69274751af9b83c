#!/bin/sh
# Runs OpenSSH's own agent regress scripts against mfa-agent (and, to validate the set-up,
# against OpenSSH's ssh-agent), RSA key types only, with the installed ssh, sshd, ssh-add and
# ssh-keygen, and prints a per-script summary. docs/conformance.md has the results.
#
#   packaging/conformance/run-openssh-regress.sh [--agent mfa|ssh|both] [--work DIR]
#       OPENSSH_SRC MFA_BIN_DIR [SCRIPT...]
#
# OPENSSH_SRC  an openssh-portable source tree of the installed client's version (ssh -V),
#              e.g. tag V_9_2_P1 unpacked (git archive V_9_2_P1 | tar -x -C DIR). Nothing is
#              built: the scripts below need none of regress's helper binaries.
# MFA_BIN_DIR  a folder holding mfa-agent (target/release, or an installed bin folder).
# SCRIPT       regress script names (default: the eight agent scripts below).
# --agent      which agent to run them with (default both: ssh-agent first, then mfa-agent).
# --work DIR   scratch folder (default: a new one under ${TMPDIR:-/tmp}); kept afterwards,
#              with each run's full output in DIR/out/AGENT/SCRIPT.out and OpenSSH's own logs
#              (failed-regress.log, failed-ssh.log, failed-sshd.log, agent.log) in
#              DIR/obj/AGENT/N/ (N: the script's place in the list). DIR must not contain the
#              words hostkey, hostname, identityfile, proxycommand or pidfile: the scripts
#              filter config lines by them, paths included.
#
# Needs: ssh, sshd (absolute path, as test-exec.sh wants), ssh-add, ssh-keygen, ssh-agent,
# openssl, perl, softhsm2-util and libsofthsm2.so (agent-pkcs11.sh; skipped without them).
#
# RSA only: the regress copy (never OPENSSH_SRC itself) is edited so that every key that goes
# into the agent is RSA (test-exec.sh's key-type list, and the few scripts that make their own
# ed25519 user keys); CA keys, host keys and "wrong" keys, which never enter the agent, keep
# their types. hostkey-agent.sh also runs its host-key step with rsa-sha2-256 and rsa-sha2-512
# beside ssh-rsa, and its certificate step with the three RSA certificate types.
#
# A step is what a script labels with trace or verbose, up to its next label; it fails when any
# check in it fails. A step is named "SECTION / LABEL" (SECTION: the last verbose label).
# Failed checks are classified from the table at the end of this file:
# "refused" (on purpose, documented), "known" (an incompatibility listed in issue 24),
# "setup" (fails with OpenSSH's ssh-agent too); anything else is printed as NEW, and the exit
# status is 1 when there is any.
set -eu

usage() {
	sed -n '6,7p' "$0" | sed 's/^# *//' >&2
	exit 2
}

here=$(cd "$(dirname "$0")" && pwd)
agents=both
work=
while [ $# -gt 0 ]; do
	case "$1" in
	--agent) agents=$2; shift 2 ;;
	--work) work=$2; shift 2 ;;
	-h|--help) usage ;;
	--) shift; break ;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || usage
src=$(cd "$1" && pwd)
bins=$(cd "$2" && pwd)
shift 2
scripts=${*:-agent agent-timeout agent-restrict agent-pkcs11 agent-subprocess hostkey-agent sshsig cert-file}
case "$agents" in
both) agents="ssh mfa" ;;
ssh|mfa) ;;
*) usage ;;
esac

[ -f "$src/regress/test-exec.sh" ] || { echo "$src: no regress/test-exec.sh" >&2; exit 1; }
[ -x "$bins/mfa-agent" ] || { echo "$bins: no mfa-agent" >&2; exit 1; }
need() { command -v "$1" || { echo "$1 not found" >&2; exit 1; }; }
ssh_bin=$(need ssh)
sshd_bin=$(PATH=$PATH:/usr/sbin:/sbin need sshd)
sshadd_bin=$(need ssh-add)
sshkeygen_bin=$(need ssh-keygen)
sshagent_bin=$(need ssh-agent)
openssl_bin=$(need openssl)
version=$("$ssh_bin" -V 2>&1)

[ -n "$work" ] || work=$(mktemp -d "${TMPDIR:-/tmp}/openssh-regress.XXXXXX")
mkdir -p "$work"
work=$(cd "$work" && pwd)
rm -rf "$work/regress" "$work/obj" "$work/out"
cp -R "$src/regress" "$work/regress"
r=$work/regress

# edit FILE SED-EXPRESSION...: fails when the expression changed nothing (another OpenSSH
# version whose script reads differently: look at it and adapt the edit).
edit() {
	_f=$r/$1
	shift
	cp "$_f" "$_f.orig"
	sed "$@" "$_f.orig" >"$_f"
	if cmp -s "$_f" "$_f.orig"; then
		echo "edit of $_f changed nothing: $*" >&2
		exit 1
	fi
}

# RSA only: every key test-exec.sh makes for the scripts' loops.
edit test-exec.sh -e '/^SSH_HOSTKEY_TYPES=/a\
SSH_KEYTYPES=ssh-rsa; SSH_HOSTKEY_TYPES=ssh-rsa # conformance run: RSA only'
# Report each step and each failed check on stdout, marked, for the summary below.
edit test-exec.sh -e '/^# source test body/i\
trace () { start_debug_log "$@"; echo "@@STEP $*"; }\
verbose () { start_debug_log "$@"; echo "@@SECTION $*"; }\
fail () { save_debug_log "FAIL: $*"; RESULT=1; echo "@@FAIL $*"; }\
fatal () { save_debug_log "FATAL: $*"; RESULT=1; echo "@@FATAL $*"; cleanup; exit $RESULT; }\
skip () { echo "@@SKIP $*"; cleanup; exit $RESULT; }'
# agent.sh: its key-deletion steps use the ed25519 user key; use the RSA one.
edit agent.sh -e 's/ssh-ed25519/ssh-rsa/g'
# agent-restrict.sh: RSA user keys (host keys and the host CA stay ed25519).
edit agent-restrict.sh -e 's/-t ed25519 -C user_/-t rsa -C user_/'
# cert-file.sh: RSA user keys (the CAs stay ed25519).
edit cert-file.sh -e 's/-t ed25519 -f \$OBJ\/user_key/-t rsa -f $OBJ\/user_key/'
# agent-pkcs11.sh: Debian's SoftHSM2 path; test the RSA token key only (the EC key stays on
# the token, so ssh-add -s still meets it).
edit agent-pkcs11.sh \
	-e 's|^try_token_libs \\$|try_token_libs /usr/lib/softhsm/libsofthsm2.so \\|' \
	-e 's/for k in \$RSA \$EC; do/for k in $RSA; do/'
# hostkey-agent.sh: host keys for each RSA signature algorithm, and the RSA certificate types.
edit hostkey-agent.sh \
	-e '/^tid=/a\
SSH_KEYTYPES="ssh-rsa rsa-sha2-256 rsa-sha2-512" # conformance run: RSA only' \
	-e "s/grep 'cert-v01@openssh.com'/grep -E '^(ssh-rsa|rsa-sha2-256|rsa-sha2-512)-cert-v01@openssh.com'/"

sed -n "/^: <<'KNOWN_FAILURES'$/,/^KNOWN_FAILURES$/p" "$0" | grep -v -e '^#' -e '^: <<' -e '^KNOWN_FAILURES$' |
	grep . >"$work/classify.txt" || true

# classify AGENT SCRIPT STEP MESSAGE: prints "class: reason", or "NEW: unclassified".
classify() {
	awk -F'~~' -v a="$1" -v s="$2" -v st="$3" -v m="$4" '
		($1 == "*" || $1 == a) && $2 == s && st ~ $3 && m ~ $4 { print $5 ": " $6; found = 1; exit }
		END { if (!found) print "NEW: unclassified" }' "$work/classify.txt"
}

summarise() {
	_agent=$1 _script=$2 _out=$3 _rc=$4 _secs=$5
	awk -v OFS='\t' '
		/^@@SECTION ok / { next }	# the closing line of test-exec.sh
		/^@@SECTION / { n++; sec = substr($0, 11); step[n] = sec; next }
		/^@@STEP / { n++; step[n] = (sec == "" ? "" : sec " / ") substr($0, 8); next }
		/^@@(FAIL|FATAL) / {
			kind = substr($1, 3); msg = $0; sub(/^@@[A-Z]+ /, "", msg)
			if (n == 0) { n = 1; step[1] = "(set-up)" }
			bad[n] = 1; print "F", n, step[n], kind, msg; next
		}
		/^@@SKIP / { print "S", 0, "", "SKIP", substr($0, 8) }
		END {
			for (i = 1; i <= n; i++) if (!bad[i]) ok++
			print "T", n, ok + 0
		}' "$_out" >"$_out.parsed"
	# Classify each failed check, then count steps: a failed step is NEW if any of its checks
	# is unclassified, else known, setup or refused, in that order.
	while IFS='	' read -r _k _n _step _kind _msg; do
		case "$_k" in
		F) printf '%s\t%s\t%s %s\t%s\n' "$_n" "$_step" "$_kind" "$_msg" \
			"$(classify "$_agent" "$_script" "$_step" "$_msg")" ;;
		*) printf '%s\n' "$_k	$_n	$_step	$_kind	$_msg" ;;
		esac
	done <"$_out.parsed" >"$_out.classified"
	awk -F'\t' -v agent="$_agent" -v script="$_script" -v rc="$_rc" -v secs="$_secs" '
		$1 == "T" { steps = $2; ok = $3; next }
		$1 == "S" { skipped = skipped "\n    skipped: " $5; next }
		{
			n = $1; c = $4; cls = c; sub(/:.*/, "", cls)
			tag = c; sub(/^[a-zA-Z]+: /, "", tag); sub(/:.*/, "", tag); tag = cls " " tag
			rank = (cls == "NEW") ? 4 : (cls == "known") ? 3 : (cls == "setup") ? 2 : 1
			if (rank > worst[n]) { worst[n] = rank; wcls[n] = cls }
			if (!(n in name)) { order[++m] = n; name[n] = $2 }
			checks[n] = checks[n] "\n        " $3 "  [" tag "]"
			r = c; sub(/^[a-zA-Z]+: /, "", r)
			if (!(c in seen)) { seen[c] = 1; reasons = reasons "\n    [" tag "] " r }
		}
		END {
			for (i = 1; i <= m; i++) count[wcls[order[i]]]++
			printf "%-10s %-17s steps %3d: passed %3d, refused on purpose %2d, known %2d, setup %d, NEW %d  (exit %s, %ss)\n",
				agent, script, steps, ok, count["refused"], count["known"], count["setup"], count["NEW"], rc, secs
			for (i = 1; i <= m; i++)
				printf "    step %s \"%s\": %s%s\n", order[i], name[order[i]], wcls[order[i]], checks[order[i]]
			if (reasons != "") printf "  reasons:%s\n", reasons
			if (skipped != "") printf "%s\n", substr(skipped, 2)
			if (count["NEW"] > 0) exit 1
		}' "$_out.classified" || total_new=$((total_new + 1))
}

echo "OpenSSH regress scripts of $src against $version"
echo "scratch: $work"
start_all=$(date +%s)
total_new=0
for a in $agents; do
	case "$a" in
	ssh) agent_cmd=$sshagent_bin; label=ssh-agent ;;
	mfa) agent_cmd=$here/ssh-agent-as-mfa-agent.sh; label=mfa-agent ;;
	esac
	mkdir -p "$work/out/$label"
	n=0
	for s in $scripts; do
		# Numbered, not named: some scripts drop config lines whose text (paths included)
		# says "hostkey", "hostname" or "identityfile", so the path must not.
		n=$((n + 1))
		obj=$work/obj/$label/$n
		mkdir -p "$obj"
		out=$work/out/$label/$s.out
		t0=$(date +%s)
		set +e
		(
			cd "$obj" &&
			env TEST_SHELL=sh \
				EGREP='grep -E' \
				TEST_SSH_SSH="$ssh_bin" \
				TEST_SSH_SSHD="$sshd_bin" \
				TEST_SSH_SSHADD="$sshadd_bin" \
				TEST_SSH_SSHKEYGEN="$sshkeygen_bin" \
				TEST_SSH_SSHAGENT="$agent_cmd" \
				TEST_SSH_OPENSSL="$openssl_bin" \
				TEST_SSH_SFTPSERVER=/usr/lib/openssh/sftp-server \
				TEST_SSH_SSHPKCS11HELPER=/usr/lib/openssh/ssh-pkcs11-helper \
				MFA_AGENT="$bins/mfa-agent" \
				XDG_STATE_HOME="$obj/state" \
				timeout 900 sh "$r/test-exec.sh" "$obj" "$r/$s.sh"
		) >"$out" 2>&1 </dev/null
		rc=$?
		set -e
		summarise "$label" "$s" "$out" "$rc" $(($(date +%s) - t0))
	done
done
echo "total: $(($(date +%s) - start_all))s; scripts with unclassified (NEW) failures: $total_new"
[ "$total_new" -eq 0 ]
exit

# The table the classification reads (a here-document, so that sh -n parses this file).
: <<'KNOWN_FAILURES'
# agent~~script~~step (awk regex)~~failed check (awk regex)~~class~~reason
# agent is ssh-agent, mfa-agent or *. Classes: refused (on purpose, documented), known (issue
# 24 items 1-5), setup (fails with OpenSSH's ssh-agent too).
mfa-agent~~agent-pkcs11~~testing ~~ssh-add -T with ~~refused~~SHA-1: ssh-add -T of OpenSSH 9.2 test-signs RSA keys with SHA-1 (ssh-rsa, flags 0)
mfa-agent~~hostkey-agent~~key type ssh-rsa$~~ssh-rsa~~refused~~SHA-1: host key algorithm ssh-rsa asks the agent for an ssh-rsa (SHA-1) signature
mfa-agent~~hostkey-agent~~cert type ssh-rsa-cert-v01~~ssh-rsa-cert-v01~~refused~~SHA-1: host certificate algorithm ssh-rsa-cert-v01 asks the agent for an ssh-rsa (SHA-1) signature
mfa-agent~~agent~~delete single key by file~~ssh-rsa-cert-v01@openssh.com key missing~~known~~item 1: RSA user certificates are refused, so ssh-add KEY added the key but not KEY-cert.pub
mfa-agent~~agent~~delete key/cert by file~~ssh-add -d - failed~~known~~item 1: ssh-add -d - < KEY-cert.pub fails, the agent holds no certificate
mfa-agent~~sshsig~~ssh-rsa-cert.pub~~.~~known~~item 1: the agent holds the plain key but not its certificate, so ssh-keygen -Y sign -f KEY-cert.pub asks it to sign as the certificate and is refused (OpenSSH's ssh-agent holding only the plain key, ssh-add -k, fails the same way)
mfa-agent~~agent-restrict~~.~~host host_[de] ~~known~~item 5: host_d and host_e present host certificates (@cert-authority host_* in known_hosts); mfa-agent refuses the session-bind of a certificate host key, so ssh-add -h keys do not sign there
mfa-agent~~agent-restrict~~connect host_[de] expect success~~unexpected ssh output~~known~~item 5: host_d and host_e present host certificates (see above)
mfa-agent~~agent-restrict~~^keylist \(basic restrict\) / connect host_[abc] ~~unexpected ssh output~~known~~item 4: the ssh-add -h key for this host is listed on the forwarded agent; OpenSSH lists a destination-constrained key only where it can be used for a further hop
mfa-agent~~agent-restrict~~^multihop (restricted|username|wildcard username|cycle restricted allow)~~.~~known~~item 5: the chain's hops to host_d and host_e present host certificates
KNOWN_FAILURES
