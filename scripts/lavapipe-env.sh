# Source me: `source scripts/lavapipe-env.sh` exports VK_ICD_FILENAMES (and LD_LIBRARY_PATH
# if needed) for Mesa 25 lavapipe, provisioning it first (see provision-lavapipe.sh).
eval "$("$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/provision-lavapipe.sh" --print-env)"
