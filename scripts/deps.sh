#!/usr/bin/env bash
# Installs what Coyote needs from Debian's packages, only when missing.
#   scripts/deps.sh test    PHP CLI, PHPUnit, PSR-7 libraries, Symfony HttpFoundation, Lumen,
#                           php-redis, redis-server (tests, examples),
#                           chromium + node (the dashboard's browser test; Playwright from npm, no browser download)
#   scripts/deps.sh bench   the above plus wrk, nginx, php-fpm (benchmarks)
set -euo pipefail
want=(php-cli phpunit php-nyholm-psr7 php-psr-http-factory php-psr-http-message php-google-protobuf php-slim
  php-symfony-http-foundation php-laravel-lumen-framework php-redis redis-server)
case "${1:-test}" in
  test) want+=(chromium nodejs) ;;
  bench) want+=(wrk nginx php-fpm) ;;
  *) echo "usage: $0 [test|bench]" >&2; exit 2 ;;
esac
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
# The reference Prometheus parser the metrics tests scrape with (Python's
# prometheus_client, from PyPI: Debian's python3-prometheus-client serves
# only Debian's own interpreter).
if [ "${1:-test}" = test ] && ! python3 -c 'import prometheus_client' 2>/dev/null; then
  echo "installing: prometheus_client (PyPI)" >&2
  python3 -m pip --version >/dev/null 2>&1 || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-pip >&2
  }
  python3 -m pip install -q prometheus_client >&2 \
    || python3 -m pip install -q --break-system-packages prometheus_client >&2
fi
# The dashboard's headless-Chromium driver: playwright-core from the npm
# registry, pinned by package-lock.json (it drives /usr/bin/chromium and
# never downloads a browser).
if [ "${1:-test}" = test ]; then
  e2e="$(cd "$(dirname "$0")/.." && pwd)/tests/e2e-dashboard"
  if ! command -v npm >/dev/null; then
    # Debian's nodejs ships npm separately (NodeSource's bundles it).
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends npm >&2
  fi
  if [ ! -d "$e2e/node_modules/playwright-core" ]; then
    echo "installing: playwright-core (npm ci in tests/e2e-dashboard)" >&2
    (cd "$e2e" && npm ci --no-audit --no-fund >&2)
  fi
fi
