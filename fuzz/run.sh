#!/usr/bin/env bash
# Runs each fuzz target for SECONDS, one process each, one after another, and prints a summary.
#
# Usage: fuzz/run.sh SECONDS [TARGET...]          (all targets when none is named)
#        fuzz/run.sh --merge [TARGET...]          (fold new finds into the committed corpus)
#
# New inputs go to fuzz/work/TARGET (not committed); fuzz/corpus/TARGET is read as the seed
# corpus and never written, so a run leaves the tree clean. --merge adds to fuzz/corpus only
# inputs from fuzz/work that reach new coverage (libFuzzer -set_cover_merge=1: a small set
# that covers every feature).
# Crashes land in fuzz/artifacts/TARGET/; the script goes on with the next target and exits 1.
set -euo pipefail
cd "$(dirname "$0")"

usage() { echo "usage: fuzz/run.sh SECONDS [TARGET...] | fuzz/run.sh --merge [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
mode=$1; shift
case $mode in --merge) ;; *[!0-9]*|'') usage ;; esac

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token_file request_decode response_decode helper_decode frame_read prompt_feed command_line)

failed=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "corpus/$t"
  if [ "$mode" = --merge ]; then
    cargo +nightly fuzz run "$t" "corpus/$t" "work/$t" -- -set_cover_merge=1
    continue
  fi
  log="work/$t.log"
  set +e
  cargo +nightly fuzz run "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$mode" -timeout=10 -print_final_stats=1 2>&1 | tee "$log" | grep -E '^(#[0-9]+[[:space:]]+(INITED|DONE)|==|SUMMARY|Done )' || true
  status=${PIPESTATUS[0]}
  set -e
  runs=$(grep -oE '^stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  cov=$(grep -oE '^#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+' "$log" | grep -oE '[0-9]+$' || echo "?")
  if [ "$status" -ne 0 ]; then
    failed=1
    summary+=("$(printf '%-16s %12s runs  cov %5s  CRASH (see fuzz/artifacts/%s and %s)' "$t" "$runs" "$cov" "$t" "$log")")
  else
    summary+=("$(printf '%-16s %12s runs  cov %5s  no crash in %ss' "$t" "$runs" "$cov" "$mode")")
  fi
done

if [ "$mode" != --merge ]; then
  echo
  printf '%s\n' "${summary[@]}"
fi
exit $failed
