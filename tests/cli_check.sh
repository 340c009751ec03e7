#!/usr/bin/env bash
# The one wrapper for command-line tests: checks the exit status AND the output (ctest's
# PASS_REGULAR_EXPRESSION alone ignores the exit status).
#   cli_check.sh EXPECTED_RC REGEX -- COMMAND [ARGS...]
# Runs COMMAND with stdout and stderr merged (standard input /dev/null); passes when it exits
# with EXPECTED_RC (a number, or a comma list, "0,1", for behaviour that depends on the
# machine, e.g. a GPU) and the whole output matches the Perl regex REGEX
# (grep -P over the output as one string: `(.|\n)*` spans lines, ^ and $ are the start and end
# of the output unless the regex starts with (?m), which makes them match at every line).
# NOT_REGEX in the environment, when set, must not match.
set -u
if [ $# -lt 4 ] || [ "$3" != "--" ]; then
  echo "usage: cli_check.sh EXPECTED_RC REGEX -- COMMAND [ARGS...]" >&2
  exit 2
fi
expected_rc=$1 regex=$2
# grep reads a newline in a pattern as "or": spell newlines (CMake's "\n") as \n.
regex=${regex//$'\n'/\\n}
NOT_REGEX=${NOT_REGEX:-}
NOT_REGEX=${NOT_REGEX//$'\n'/\\n}
shift 3
output=$("$@" 2>&1 </dev/null)
rc=$?
fail=0
if [[ ",$expected_rc," != *",$rc,"* ]]; then
  echo "cli_check: exit status $rc, expected $expected_rc" >&2
  fail=1
fi
if ! printf '%s' "$output" | grep -qPz -- "$regex"; then
  echo "cli_check: output does not match: $regex" >&2
  fail=1
fi
if [ -n "${NOT_REGEX:-}" ] && printf '%s' "$output" | grep -qPz -- "$NOT_REGEX"; then
  echo "cli_check: output matches what it must not: $NOT_REGEX" >&2
  fail=1
fi
if [ "$fail" -ne 0 ]; then
  echo "---- command: $*" >&2
  echo "---- output:" >&2
  printf '%s\n' "$output" | tail -c 20000 >&2
fi
exit "$fail"
