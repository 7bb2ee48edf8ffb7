# The shell prelude every script sources first: strict mode, the project root as the working directory, log and
# die named after the script, and the cache directory (KEYCLOAK_REGISTRY_CACHE).
#   source "$(dirname "$0")/lib/prelude.sh"      (scripts/)      source "$(dirname "$0")/prelude.sh"   (scripts/lib/)
set -euo pipefail
SCRIPT_NAME="$(basename "$0")"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
CACHE_DIR="${KEYCLOAK_REGISTRY_CACHE:-$HOME/.cache/keycloak-registry}"
log() { echo "[$SCRIPT_NAME $(date +%H:%M:%S)] $*" >&2; }
die() { echo "[$SCRIPT_NAME] ERROR: $*" >&2; exit 1; }
