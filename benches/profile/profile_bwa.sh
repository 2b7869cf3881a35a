#!/usr/bin/env bash
# profile_bwa.sh READS.fq OUT.tsv : abundance profile (name reads fraction) via read_assign_bwa.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/read_assign_bwa.sh" "$1" "$2.assign"
"$HERE/assign2profile.sh" "$2.assign" "$2"
