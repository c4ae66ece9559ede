# Sourced by scripts/run and scripts/test: makes .venv from uv.lock (pinned), nothing else.
# uv itself is installed into .tools/uv from PyPI (a pinned version), so no system pip is touched.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
UV_VERSION="0.13.9"
UV="$ROOT/.tools/uv/bin/uv"

need_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else echo "need root for: $*" >&2; return 1; fi; }

apt_install() {
  # Installs Debian packages that are missing; waits for a held dpkg lock instead of failing.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing system packages: ${missing[*]}" >&2
  need_root env DEBIAN_FRONTEND=noninteractive apt-get -q update >&2
  need_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -q \
    --no-install-recommends "${missing[@]}" >&2
}

if [ ! -x "$UV" ]; then
  python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "Python 3.11 or newer is needed (python3 is $(python3 --version))" >&2; exit 1; }
  python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null \
    || apt_install python3-venv
  python3 -m venv "$ROOT/.tools/uv"
  "$ROOT/.tools/uv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION" >&2
fi
export UV_PYTHON="${UV_PYTHON:-python3}"
"$UV" sync --locked --quiet >&2
export PATH="$ROOT/.venv/bin:$PATH"
