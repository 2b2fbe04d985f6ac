#!/usr/bin/env bash
# A full rotation of both CAs on the embedded lab cluster, end to end:
#   lab up → init (desired state from the cluster) → two new CAs → plan → apply → inspect the ledger → status → lab down.
# Usage: bash examples/lab-demo.sh [DIR] [legacy|document]   (DIR defaults to a new temp folder)
#        KEEP_LAB=1 bash examples/lab-demo.sh ...             (leave the lab running, e.g. to try rollback)
# Everything runs on loopback addresses (127.0.0.0/8); nothing outside DIR is touched.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
rotate="$here/bin/rotate"
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/talos-rotate-demo.XXXXXX")}
style=${2:-document}

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
[ "${KEEP_LAB:-0}" = 1 ] || trap '"$rotate" lab down --dir "$dir/lab" >/dev/null 2>&1 || true' EXIT

step "Start an emulated cluster (3 control planes, 2 workers, Kubernetes CA style: $style)"
# Emulated restarts shortened (kube-apiserver re-created 0.5 s after a CA change, kubelets back in 0.3 s) so
# the apply takes about half a minute (the whole demo under a minute); the tests use the lab's defaults (2 s, 1 s).
"$rotate" lab up --dir "$dir/lab" --detach --kubernetes-ca-style "$style" --static-pod-delay-ms 500 --kubelet-restart-ms 300
cd "$dir/lab"

step "Day one: forget the lab's own rotate.yaml and let init read the cluster (certificates to pki/, keys referenced)"
rm rotate.yaml
"$rotate" init --talosconfig ./talosconfig --secrets secrets.yaml
"$rotate" plan --detailed-exitcode >/dev/null && echo "rotate plan: no changes (exit 0)"

step "Ask for a full rotation of both CAs, one command each (keys stay in pki/*.key, mode 0600, never printed)"
"$rotate" ca new -f rotate.yaml --api talos --name talos-next --make-issuing
"$rotate" ca new -f rotate.yaml --api kubernetes --name k8s-next --make-issuing

step "Plan: four steps, each proved safe (announced: in-cluster clients in the Kubernetes issue, the control-plane kubelet window in the Kubernetes drop)"
set +e
"$rotate" plan --out plan.json --detailed-exitcode 2>/dev/null | grep -E '^(Plan:|> step|  wave|  gate|  proof|    ~|Verdict)'
code=$?
set -e
[ "$code" -le 2 ] || exit "$code"

step "Apply the saved plan (a saved plan is the approval; progress as plain lines)"
CI=1 "$rotate" apply plan.json

step "What the lab saw during the rotation (trust failures per edge, NotReady events)"
"$rotate" lab inspect --dir .

step "Status: the new CAs everywhere, no drift from the same rotate.yaml (the committed file stays valid), no unfinished run"
"$rotate" status 2>/dev/null

step "The new kubeconfig works with the real kubectl"
if command -v kubectl >/dev/null; then HOME="$dir" kubectl --kubeconfig kubeconfig get nodes; fi

echo
echo "Done. Files are in $dir/lab (state in state/, keys escrowed in state/keys/)."
if [ "${KEEP_LAB:-0}" = 1 ]; then
  echo "The lab keeps running. Undo the rotation: (cd $dir/lab && $rotate rollback --auto-approve)"
  echo "Stop it: $rotate lab down --dir $dir/lab"
else
  echo "The lab was stopped. Run with KEEP_LAB=1 to keep it and try \`rotate rollback\`."
fi
