#!/bin/sh
# Runs a command and checks both its exit status and its output (stdout and stderr
# together), which ctest's PASS_REGULAR_EXPRESSION alone does not: it ignores the status.
#   cli_expect.sh STATUS REGEX COMMAND [ARGS...]
# STATUS: a number, or "nonzero" for any failure. REGEX: an extended regex (grep -E) that
# some line of the output must match.
status_wanted=$1
regex=$2
shift 2
out=$("$@" 2>&1)
status=$?
printf '%s\n' "$out"
if [ "$status_wanted" = nonzero ]; then
  [ "$status" -ne 0 ] || { echo "cli_expect: exit status 0, expected a failure" >&2; exit 1; }
else
  [ "$status" -eq "$status_wanted" ] || { echo "cli_expect: exit status $status, expected $status_wanted" >&2; exit 1; }
fi
printf '%s\n' "$out" | grep -Eq -- "$regex" || { echo "cli_expect: no line matches: $regex" >&2; exit 1; }
exit 0
