package bootstrap

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// Join is a control plane's kubeadm join command, taken apart: what a worker's
// JoinConfiguration needs. It is a secret (the token admits a node to the cluster).
type Join struct {
	// Endpoint is the API server, host:port (an IPv6 host in brackets).
	Endpoint string
	// Token is the bootstrap token, [a-z0-9]{6}.[a-z0-9]{16}.
	Token string
	// CACertHash pins the cluster CA: "sha256:" and 64 lowercase hex digits.
	CACertHash string
}

// maxJoin bounds what ParseJoin reads; kubeadm's command is about 180 bytes.
const maxJoin = 1024

var (
	tokenRE  = regexp.MustCompile(`^[a-z0-9]{6}\.[a-z0-9]{16}$`)
	hashRE   = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	labelRE  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	portRE   = regexp.MustCompile(`^[1-9][0-9]{0,4}$`)
	errShape = errors.New("join command: want kubeadm join HOST:PORT --token TOKEN --discovery-token-ca-cert-hash sha256:HASH")
)

// ParseJoin reads the command `kubeadm token create --print-join-command` prints:
//
//	kubeadm join <host:port> --token <[a-z0-9]{6}.[a-z0-9]{16}> --discovery-token-ca-cert-hash sha256:<64 hex>
//
// Runs of spaces, tabs and line ends between words are tolerated (kubeadm ends the line
// with a space); the two flags may come in either order; anything else is refused. The
// command comes from a guest, so nothing of it is trusted: the errors never quote it
// (it holds a token).
func ParseJoin(s string) (Join, error) {
	if len(s) > maxJoin {
		return Join{}, fmt.Errorf("join command: longer than %d bytes", maxJoin)
	}
	w := strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(w) != 7 || w[0] != "kubeadm" || w[1] != "join" {
		return Join{}, errShape
	}
	j := Join{Endpoint: w[2]}
	for i := 3; i < len(w); i += 2 {
		switch w[i] {
		case "--token":
			if j.Token != "" {
				return Join{}, errShape
			}
			j.Token = w[i+1]
		case "--discovery-token-ca-cert-hash":
			if j.CACertHash != "" {
				return Join{}, errShape
			}
			j.CACertHash = w[i+1]
		default:
			return Join{}, errShape
		}
	}
	if err := checkEndpoint(j.Endpoint); err != nil {
		return Join{}, err
	}
	if !tokenRE.MatchString(j.Token) {
		return Join{}, errors.New("join command: the token is not of the form [a-z0-9]{6}.[a-z0-9]{16}")
	}
	if !hashRE.MatchString(j.CACertHash) {
		return Join{}, errors.New("join command: the CA certificate hash is not sha256: and 64 lowercase hex digits")
	}
	return j, nil
}

// String is the join command in kubeadm's form (without its trailing space).
func (j Join) String() string {
	return "kubeadm join " + j.Endpoint + " --token " + j.Token + " --discovery-token-ca-cert-hash " + j.CACertHash
}

// checkEndpoint accepts host:port where host is an IP address (IPv6 in brackets, no zone)
// or a DNS name, and port is 1-65535.
func checkEndpoint(ep string) error {
	bad := errors.New("join command: the API server endpoint is not host:port")
	host, port, err := net.SplitHostPort(ep)
	if err != nil || !portRE.MatchString(port) {
		return bad
	}
	if n, _ := strconv.Atoi(port); n > 65535 {
		return bad
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// SplitHostPort takes "1.2.3.4" out of "[1.2.3.4]:6443" too; kubeadm writes IPv4 bare.
		if ip.Zone() != "" || ip.Is4() == strings.HasPrefix(ep, "[") {
			return bad
		}
		return nil
	}
	if strings.HasPrefix(ep, "[") || len(host) > 253 {
		return bad
	}
	for label := range strings.SplitSeq(strings.ToLower(host), ".") {
		if !labelRE.MatchString(label) {
			return bad
		}
	}
	return nil
}
