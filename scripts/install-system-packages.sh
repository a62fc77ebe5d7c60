#!/usr/bin/env bash
# Installs the Debian packages the project runs for real: mosquitto (MQTT broker
# for the edge tests and `make edge-run`), graphviz (`make diagram`) and chromium
# (headless, renders the evidence page in its test; a test tool's own browser download fails here).
set -euo pipefail
needed=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || needed+=(mosquitto)
command -v dot >/dev/null 2>&1 || needed+=(graphviz)
command -v chromium >/dev/null 2>&1 || needed+=(chromium)
[ ${#needed[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
# The package starts a system-wide broker on 1883; tests run their own on free ports.
$sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
