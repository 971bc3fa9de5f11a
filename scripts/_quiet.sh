# Sourced by the scripts: run a command with its stderr held back (the libraries' warnings),
# shown with its exit status when the command fails.
quiet() {
  local log rc=0
  log="$(mktemp)"
  "$@" 2>"$log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "$(basename "$0"): '$*' failed (exit $rc):" >&2
    cat "$log" >&2
  fi
  rm -f "$log"
  return "$rc"
}
