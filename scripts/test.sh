#!/usr/bin/env bash
# Runs every test layer of Spike Studio (the README's test command; .ci/run calls exactly this).
#
#   bash scripts/test.sh
#
# Installs what it needs first (scripts/setup.sh test: npm ci, .venv with torch + pytest, Debian chromium and
# friends, code-server 4.100.3 in .cache/code-server), then runs ALL layers even when one fails:
#   typecheck, build, unit (mocha), runtime (pytest), webview (Chromium), integration (code-server), package (.vsix)
# and ends with a summary table and, as the very last line, `N passed, M failed` (counting layers).
# Exit code 0 only when every layer passed. Logs: test-results/logs/<layer>.log.
# Environment: LAYER_TIMEOUT (seconds per layer, default 2400: a guard for a loaded machine), SPIKE_TEST_ONLY="unit runtime" (run a subset).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOGDIR="$ROOT/test-results/logs"
mkdir -p "$LOGDIR"
LAYER_TIMEOUT="${LAYER_TIMEOUT:-2400}"
ONLY=" ${SPIKE_TEST_ONLY:-} "

export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export npm_config_yes=true
export npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
export FORCE_COLOR=0 NO_COLOR=1

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

NAMES=(); STATUS=(); DURS=(); DETAILS=()
T0=$(now)

# Extracts a short "tests" summary from a layer's log (mocha, pytest, our harnesses).
details_of() {
  local log="$1" d=""
  local mp mf pp pf ip
  mp=$(grep -Eo '[0-9]+ passing' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
  mf=$(grep -Eo '[0-9]+ failing' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
  ip=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 || true)
  pp=$(grep -E '(^|=+ )[0-9]+ (passed|failed)' "$log" | tail -n 1 | sed -E 's/=+//g; s/^ +| +$//g' || true)
  if [[ -n "$ip" ]]; then d="$ip"
  elif [[ -n "$mp" || -n "$mf" ]]; then d="${mp:-0} passing, ${mf:-0} failing"
  elif [[ -n "$pp" ]]; then d="$pp"
  fi
  printf '%s' "$d" | cut -c1-60
}

# run_layer NAME COMMAND... — runs one layer with a timeout, streams and logs its output, records the result.
run_layer() {
  local name="$1"; shift
  if [[ "$ONLY" != "  " && "$ONLY" != *" $name "* ]]; then return 0; fi
  local log="$LOGDIR/$name.log" t rc
  printf '\n==================== %s ====================\n$ %s\n' "$name" "$*"
  t=$(now)
  timeout -k 20 "$LAYER_TIMEOUT" "$@" </dev/null 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  local d; d=$(secs "$t" "$(now)")
  [[ $rc -eq 124 ]] && echo "[test] $name: timed out after ${LAYER_TIMEOUT}s" | tee -a "$log"
  NAMES+=("$name"); DURS+=("$d"); DETAILS+=("$(details_of "$log")")
  if [[ $rc -eq 0 ]]; then STATUS+=("PASS"); else STATUS+=("FAIL($rc)"); fi
  printf -- '---- %s: %s in %s s\n' "$name" "$([[ $rc -eq 0 ]] && echo passed || echo "FAILED (exit $rc)")" "$d"
}

layer_runtime() { cd "$ROOT/runtime" && "$ROOT/.venv/bin/python" -m pytest -q -p no:cacheprovider; }
layer_package() {
  rm -f "$ROOT/spike-studio.vsix"
  npm run package || return $?
  node scripts/check-vsix.mjs spike-studio.vsix || return $?
  # installs the .vsix into a fresh code-server and runs Train from the palette in the installed copy
  node test/integration/install-vsix.mjs spike-studio.vsix
}
export -f layer_runtime layer_package
export ROOT

run_layer setup bash scripts/setup.sh test
run_layer typecheck npm run typecheck
run_layer build npm run build
run_layer unit npm run test:unit
run_layer runtime bash -c layer_runtime
run_layer webview npm run test:webview
run_layer integration npm run test:integration
run_layer slurm npx mocha --config test/slurm/.mocharc.json
run_layer package bash -c layer_package

# ------------------------------------------------------------------------------------------- summary
passed=0; failed=0
printf '\n==================== summary ====================\n'
printf '%-12s %-9s %9s  %s\n' layer result seconds tests
for i in "${!NAMES[@]}"; do
  printf '%-12s %-9s %9s  %s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${DURS[$i]}" "${DETAILS[$i]}"
  if [[ "${STATUS[$i]}" == PASS ]]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
done
printf '%-12s %-9s %9s  %s\n' total "" "$(secs "$T0" "$(now)")" "logs: test-results/logs/"
if (( passed + failed == 0 )); then failed=1; fi
echo "$passed passed, $failed failed"
(( failed == 0 ))
