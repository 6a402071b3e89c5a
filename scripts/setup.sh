#!/usr/bin/env bash
# Installs what Spike Studio's scripts need. Idempotent: every step checks first and is a fast no-op when done.
#
#   bash scripts/setup.sh [STEP...]
#
# Steps (default: node runtime):
#   node         npm ci (when node_modules is missing or older than package-lock.json)
#   runtime      .venv with torch==2.13.0 + numpy (the Python runtime's dependencies)
#   pytest       runtime + pytest, jsonschema, hypothesis, onnx, onnxruntime (the runtime's test dependencies), spikingjelly +
#                snntorch (--no-deps, test-only), and on Linux x86_64
#                triton (tests/test_lif_triton.py runs the fused LIF kernels in Triton's CPU interpreter; 286 MB wheel)
#   apt          Debian packages for the browser tests: chromium fonts-liberation libkrb5-dev ripgrep
#   code-server  code-server@4.100.3 into .cache/code-server (real VS Code for the integration tests)
#   slurm        Debian's slurm-wlm and munge (test/slurm starts a single-node cluster of its own; nothing is enabled)
#   test         all of the above
#
# Environment: PYTHON (interpreter used to create .venv, default python3), SPIKE_TORCH_SPEC (default torch==2.13.0).
# Never relies on ~/.npmrc: passes npm_config_nodedir/npm_config_yes explicitly where native builds or npx happen.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

CODE_SERVER_VERSION="4.100.3"
RIPGREP_PKG_VERSION="1.15.11"      # @vscode/ripgrep version that code-server 4.100.3 pulls in
RIPGREP_VERSION="v13.0.0-10"       # the rg release its lib/postinstall.js downloads
TORCH_SPEC="${SPIKE_TORCH_SPEC:-torch==2.13.0}"
TRITON_SPEC="${SPIKE_TRITON_SPEC-triton==3.9.0}"   # set SPIKE_TRITON_SPEC= (empty) to skip it
SJ_SPEC="spikingjelly==0.0.0.0.14"   # test-only (examples/custom, runtime/tests/test_custom_models.py)
SNNTORCH_SPEC="snntorch==0.9.4"     # test-only
APT_PACKAGES=(chromium fonts-liberation libkrb5-dev ripgrep)
SLURM_PACKAGES=(slurm-wlm munge)   # only for the test command (test/slurm/cluster.mjs)

export npm_config_nodedir="${npm_config_nodedir:-/usr}"
export npm_config_yes=true
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false

log() { printf '[setup] %s\n' "$*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# ---------------------------------------------------------------------------------------------- node
step_node() {
  if [[ -f node_modules/.package-lock.json && ! package-lock.json -nt node_modules/.package-lock.json ]]; then
    log "node: node_modules up to date (skip)"
    return 0
  fi
  local t; t=$(now)
  log "node: npm ci"
  # onnxruntime-node's postinstall would download the CUDA provider from outside the npm registry: skip it here
  # as well as in .npmrc (npm warns that it will stop reading unknown .npmrc keys in its next major version)
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund </dev/null
  touch node_modules/.package-lock.json
  log "node: done in $(elapsed "$t") s"
}

# ---------------------------------------------------------------------------------------------- python
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"

ensure_venv() {
  if [[ -x "$VPY" ]] && "$VPY" -c 'import sys' >/dev/null 2>&1; then return 0; fi
  local py="${PYTHON:-python3}"
  command -v "$py" >/dev/null || { log "python: '$py' not found (set PYTHON=/path/to/python3)"; return 1; }
  log "python: creating .venv with $("$py" --version 2>&1)"
  rm -rf "$VENV"
  "$py" -m venv "$VENV"
}

# pip_step NAME MARKER-CONTENT PACKAGES... — installs when the marker does not hold exactly this package list.
pip_step() {
  local name="$1"; shift
  local marker="$VENV/.spike-studio-$name"
  local want="$*"
  if [[ -x "$VPY" && -f "$marker" && "$(cat "$marker")" == "$want" ]]; then
    log "python[$name]: $want present (skip)"
    return 0
  fi
  ensure_venv
  local t; t=$(now)
  log "python[$name]: pip install $want"
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install -qq "$@" </dev/null
  printf '%s' "$want" > "$marker"
  log "python[$name]: done in $(elapsed "$t") s"
}

step_runtime() { pip_step runtime "$TORCH_SPEC" numpy; }
# triton ships Linux x86_64 wheels only; elsewhere the Triton kernel tests skip themselves (with the reason).
triton_spec() { [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] && printf '%s' "$TRITON_SPEC" || true; }
step_pytest() {
  step_runtime; pip_step pytest pytest jsonschema hypothesis onnx onnxruntime $(triton_spec)
  # optional test-only dependencies of the custom-model tests (never shipped; SpikingJelly's licence has a
  # commercial-use clause): --no-deps keeps the CPU torch above (both import with torch + numpy only)
  pip_step snn-libs --no-deps "$SJ_SPEC" "$SNNTORCH_SPEC"
}

# ---------------------------------------------------------------------------------------------- apt
step_apt() { apt_install "${APT_PACKAGES[@]}"; }
step_slurm() { apt_install "${SLURM_PACKAGES[@]}"; }

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if (( ${#missing[@]} == 0 )); then
    log "apt: $* installed (skip)"
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { log "apt: need root or sudo to install ${missing[*]}"; return 1; }
    sudo=(sudo -n)
  fi
  local t; t=$(now)
  log "apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq </dev/null
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  log "apt: done in $(elapsed "$t") s"
}

# ---------------------------------------------------------------------------------------------- code-server
CS_DIR="$ROOT/.cache/code-server"
CS_BIN="$CS_DIR/node_modules/.bin/code-server"
CS_MARKER="$CS_DIR/.installed-$CODE_SERVER_VERSION"

step_code_server() {
  if [[ -f "$CS_MARKER" && -x "$CS_BIN" ]]; then
    log "code-server: $CODE_SERVER_VERSION installed (skip)"
    return 0
  fi
  command -v rg >/dev/null || { log "code-server: needs ripgrep (rg) to seed @vscode/ripgrep; run the apt step"; return 1; }
  [[ -f /usr/include/gssapi/gssapi.h ]] || { log "code-server: needs libkrb5-dev (kerberos build); run the apt step"; return 1; }
  local t; t=$(now)
  log "code-server: npm install code-server@$CODE_SERVER_VERSION into .cache/code-server (about a minute)"
  mkdir -p "$CS_DIR" "$ROOT/.cache/tmp"
  # Its own package.json so npm never walks up into the project's.
  [[ -f "$CS_DIR/package.json" ]] || printf '{ "name": "spike-studio-code-server", "private": true }\n' > "$CS_DIR/package.json"
  # @vscode/ripgrep's postinstall downloads rg from GitHub; seed its download cache with Debian's rg.
  local tmp="$ROOT/.cache/tmp"
  local cache="$tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
  local tarball="$cache/ripgrep-$RIPGREP_VERSION-x86_64-unknown-linux-musl.tar.gz"
  if [[ ! -f "$tarball" ]]; then
    mkdir -p "$cache"
    local d; d=$(mktemp -d "$tmp/rg.XXXXXX")
    cp "$(command -v rg)" "$d/rg"
    tar czf "$tarball" -C "$d" rg
    rm -rf "$d"
  fi
  (
    cd "$CS_DIR"
    TMPDIR="$tmp" npm_config_unsafe_perm=true npm_config_yes=true npm_config_nodedir="$npm_config_nodedir" \
      nice -n 5 npm install --no-audit --no-fund --no-save --foreground-scripts "code-server@$CODE_SERVER_VERSION" </dev/null \
      > "$ROOT/.cache/code-server-install.log" 2>&1
  ) || { log "code-server: install failed; last lines of .cache/code-server-install.log:"; tail -n 30 "$ROOT/.cache/code-server-install.log" >&2; return 1; }
  local v xdg; xdg=$(mktemp -d "$tmp/xdg.XXXXXX")
  v=$(XDG_CONFIG_HOME="$xdg" XDG_DATA_HOME="$xdg" "$CS_BIN" --version 2>/dev/null | grep -E '^[0-9]+\.[0-9]+' | head -n 1 || true)
  rm -rf "$xdg"
  [[ "$v" == "$CODE_SERVER_VERSION"* ]] || { log "code-server: unexpected --version output: $v"; return 1; }
  touch "$CS_MARKER"
  log "code-server: $v, done in $(elapsed "$t") s"
}

# ---------------------------------------------------------------------------------------------- main
steps=("$@")
(( ${#steps[@]} )) || steps=(node runtime)
for s in "${steps[@]}"; do
  case "$s" in
    node) step_node ;;
    runtime) step_runtime ;;
    pytest) step_pytest ;;
    apt) step_apt ;;
    code-server) step_code_server ;;
    slurm) step_slurm ;;
    test) step_node; step_pytest; step_apt; step_slurm; step_code_server ;;
    *) log "unknown step: $s"; exit 64 ;;
  esac
done
