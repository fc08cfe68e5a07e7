#!/usr/bin/env bash
# Create the virtual environment and install omnifuse with everything it needs.
# Usage: scripts/setup_env.sh VENV_DIR
set -euo pipefail
venv="${1:-.venv}"
python="${PYTHON:-python3}"

if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so'; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[setup] installing the Debian library libusb-1.0-0 (needed by open3d)"
    apt-get install -y -q libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q libusb-1.0-0 >/dev/null; }
  else
    echo "[setup] open3d needs the system library libusb-1.0-0; install it with:"
    echo "        sudo apt-get install -y libusb-1.0-0"
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv"
  "$python" -m venv "$venv"
fi
echo "[setup] installing requirements (torch==2.13.0 CPU wheel where it lies on disk)"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
# omnifuse itself with its deploy extras (onnx, onnxruntime, openvino: `omnifuse export`, docs/deploy.md)
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-build-isolation -e ".[deploy]" 2>&1 | grep -v -E "^WARNING: Location .* is ignored" || true
"$venv/bin/python" -c "import omnifuse, torch, mmengine, spconv, open3d, cv2, rosbags, onnx, onnxruntime, openvino" \
  || { echo "[setup] the environment in $venv is incomplete: see the messages above"; exit 1; }
echo "[setup] done: $venv"
