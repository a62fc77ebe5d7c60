#!/bin/bash
# Studio lifecycle configuration (JupyterLab) of the site's ML workspace: runs when a JupyterLab app
# starts and leaves the idle check of that app running in the background. Built by
# factory_constructs/ml/ml_workspace.py from this file and idle_shutdown.py: the markers are replaced there.
set -euo pipefail
folder="${TMPDIR:-/tmp}/dmc-idle-shutdown"
mkdir -p "$folder"
cat >"$folder/idle_shutdown.py" <<'DMC_IDLE_SHUTDOWN_PY'
@PROGRAM@
DMC_IDLE_SHUTDOWN_PY
nohup python3 "$folder/idle_shutdown.py" --idle-minutes @IDLE_MINUTES@ --region @REGION@ \
  >>"$folder/idle_shutdown.log" 2>&1 &
