package guest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"

	"sigs.k8s.io/yaml"
)

// authority is what a control plane's kubeadm init makes and a worker's join must name:
// the API server's endpoint, a bootstrap token, and the cluster CA, pinned by the
// SHA-256 of its public key as kubeadm's discovery does.
type authority struct {
	endpoint string // host:port
	token    string // [a-z0-9]{6}.[a-z0-9]{16}
	hash     string // sha256:<64 hex>
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
}

func newAuthority(ip string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "kubernetes"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(10, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("cluster CA: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return &authority{endpoint: net.JoinHostPort(ip, "6443"), token: randomString(6) + "." + randomString(16),
		hash: "sha256:" + hex.EncodeToString(sum[:]), key: key, cert: cert}, nil
}

// joinCommand is what `kubeadm token create --print-join-command` prints, trailing space
// included.
func (a *authority) joinCommand() string {
	return "kubeadm join " + a.endpoint + " --token " + a.token + " --discovery-token-ca-cert-hash " + a.hash + " "
}

// kubeconfig is the admin.conf kubeadm writes: the cluster's CA and API server, and a
// client certificate of the admin group signed by the CA. It is written by the YAML
// encoder: the cluster name is the tenant's.
func (a *authority) kubeconfig(cluster string) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial(),
		Subject:   pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"kubeadm:cluster-admins"}},
		NotBefore: now.Add(-time.Minute), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("admin certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("admin key: %w", err)
	}
	const user = "kubernetes-admin"
	context := user + "@" + cluster
	kc := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []map[string]any{{"name": cluster, "cluster": map[string]string{
			"certificate-authority-data": pemBytes("CERTIFICATE", a.cert.Raw),
			"server":                     "https://" + a.endpoint,
		}}},
		"contexts":        []map[string]any{{"name": context, "context": map[string]string{"cluster": cluster, "user": user}}},
		"current-context": context,
		"preferences":     map[string]any{},
		"users": []map[string]any{{"name": user, "user": map[string]string{
			"client-certificate-data": pemBytes("CERTIFICATE", der),
			"client-key-data":         pemBytes("EC PRIVATE KEY", keyDER),
		}}},
	}
	return yaml.Marshal(kc)
}

// pemBytes is a PEM block, base64 as kubeconfig's *-data fields hold it.
func pemBytes(kind string, der []byte) string {
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}))
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// randomString is n characters of kubeadm's token alphabet, [a-z0-9].
func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		k, _ := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}
