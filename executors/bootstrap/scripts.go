package bootstrap

// The scripts a node runs. They hold no tenant value: kubeadm reads its settings from
// KubeadmConfigPath, and the only value a script names (the control plane's CNI
// manifest, from the provider's template) is shell-quoted into controlPlaneScript's one
// %s verb.

// reportScript is kaas-report KEY VALUE: publish a guestinfo key that kaas reads through VCD.
const reportScript = `#!/bin/sh
# kaas-report KEY VALUE: publish a guestinfo key that kaas reads through VCD.
set -eu
vmtoolsd --cmd "info-set guestinfo.kaas.$1 $2"
`

const controlPlaneScript = `#!/bin/sh
set -eu
fail() { kaas-report status "failed:$1"; exit 1; }
kaas-report status running:kubeadm-init
kubeadm init --config /etc/kaas/kubeadm.yaml || fail kubeadm-init
export KUBECONFIG=/etc/kubernetes/admin.conf
kaas-report status running:cni-install
manifest=%s
kubectl apply -f "$manifest" || fail cni-install
kaas-report status running:join-token
join=$(kubeadm token create --ttl 0 --print-join-command) || fail join-token
kaas-report ip "$(ip -4 route get 1 | awk '{print $7; exit}')"
kaas-report join "$(printf '%%s' "$join" | base64 -w0)"
kaas-report kubeconfig "$(base64 -w0 /etc/kubernetes/admin.conf)"
kaas-report status "done"
`

// The worker's kubeadm config holds the join token: it goes when the script ends, joined
// or not.
const workerScript = `#!/bin/sh
set -eu
trap 'rm -f /etc/kaas/kubeadm.yaml' EXIT
fail() { kaas-report status "failed:$1"; exit 1; }
kaas-report status running:kubeadm-join
kubeadm join --config /etc/kaas/kubeadm.yaml || fail kubeadm-join
kaas-report ip "$(ip -4 route get 1 | awk '{print $7; exit}')"
kaas-report status "done"
`

const nfsScript = `#!/bin/sh
set -eu
fail() { kaas-report status "failed:$1"; exit 1; }
kaas-report status running:nfs-server
mkdir -p /export
echo "/export *(rw,sync,no_root_squash,no_subtree_check)" >> /etc/exports
systemctl enable --now nfs-server || fail nfs-server
exportfs -ra || fail exportfs
kaas-report ip "$(ip -4 route get 1 | awk '{print $7; exit}')"
kaas-report status "done"
`
