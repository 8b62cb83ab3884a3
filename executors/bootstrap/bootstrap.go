// Package bootstrap renders the cloud-init user data that turns a provider's template VM
// into a Kubernetes node: kubeadm init on the control plane, kubeadm join on workers, an
// NFS server on NFS nodes. Each step reports its progress through guestinfo (see the
// Guest* keys in package executors), which is how kaas follows a node without vCenter.
package bootstrap

import (
	"bytes"
	"embed"
	"encoding/base64"
	"fmt"
	"text/template"
)

//go:embed templates/*.yaml
var files embed.FS

var tmpl = template.Must(template.New("").Funcs(template.FuncMap{"b64": func(s string) string {
	return base64.StdEncoding.EncodeToString([]byte(s))
}}).ParseFS(files, "templates/*.yaml"))

// Params are what a node's bootstrap needs to know.
type Params struct {
	ClusterName       string
	ClusterID         string
	NodeName          string
	KubernetesVersion string
	PodCIDR           string
	ServiceCIDR       string
	CNI               string
	CNIVersion        string
	SSHKey            string
	// JoinCommand is the control plane's kubeadm join command: a secret, for workers only.
	JoinCommand string
}

// Role templates.
var byRole = map[string]string{"control-plane": "control-plane.yaml", "worker": "worker.yaml", "nfs": "nfs.yaml"}

// Render returns the cloud-init user data for a node of the role.
func Render(role string, p Params) (string, error) {
	name, ok := byRole[role]
	if !ok {
		return "", fmt.Errorf("bootstrap: no template for role %q", role)
	}
	if role == "worker" && p.JoinCommand == "" {
		return "", fmt.Errorf("bootstrap: a worker needs the control plane's join command")
	}
	if p.PodCIDR == "" {
		p.PodCIDR = "100.96.0.0/11"
	}
	if p.ServiceCIDR == "" {
		p.ServiceCIDR = "100.64.0.0/13"
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name, p); err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	return b.String(), nil
}
