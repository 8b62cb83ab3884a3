// Package tlstest makes a throw-away PKI for tests: a CA, and server and client
// certificates it signs, written as PEM files into the test's temporary directory as a
// provider would have them; and a TLS-terminating proxy that puts TLS in front of a plain
// TCP server (the machine's RabbitMQ, which has no TLS listener and is not reconfigured for
// a test).
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// CA is a certificate authority of one test.
type CA struct {
	// CertFile holds the CA's certificate, PEM: what a client is given to trust.
	CertFile string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	dir      string
	serial   int64
}

// NewCA makes a CA named name, its files in a directory of the test's.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{cert: cert, key: key, dir: t.TempDir(), serial: 1}
	ca.CertFile = ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

// Pool is a pool holding the CA, for a server that checks client certificates.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Pair is a certificate the CA signed and its key, as files and as a tls.Certificate.
type Pair struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
}

// Server issues a server certificate for the host names given, or, with none, for
// localhost, 127.0.0.1 and ::1.
func (ca *CA) Server(t testing.TB, names ...string) Pair {
	t.Helper()
	tmpl := &x509.Certificate{ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: names}
	if len(names) == 0 {
		tmpl.DNSNames, tmpl.IPAddresses = []string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	tmpl.Subject.CommonName = tmpl.DNSNames[0]
	return ca.issue(t, "server-"+tmpl.DNSNames[0], tmpl)
}

// Client issues a client certificate named cn.
func (ca *CA) Client(t testing.TB, cn string) Pair {
	t.Helper()
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	return ca.issue(t, "client-"+cn, tmpl)
}

func (ca *CA) issue(t testing.TB, name string, tmpl *x509.Certificate) Pair {
	t.Helper()
	ca.serial++
	tmpl.SerialNumber = big.NewInt(ca.serial)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(24*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := Pair{CertFile: ca.write(t, name+".pem", "CERTIFICATE", der), KeyFile: ca.write(t, name+"-key.pem", "PRIVATE KEY", keyDER)}
	if p.TLS, err = tls.LoadX509KeyPair(p.CertFile, p.KeyFile); err != nil {
		t.Fatal(err)
	}
	return p
}

func (ca *CA) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// AMQPS puts TLS, as cfg says, in front of the broker of the amqp:// URL plain (the
// machine's RabbitMQ has no TLS listener, and a test does not reconfigure it) and returns
// the amqps:// URL that reaches the broker through it, with plain's credentials.
func AMQPS(t testing.TB, plain string, cfg *tls.Config) string {
	t.Helper()
	u, err := url.Parse(plain)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = Proxy(t, cfg, u.Host)
	u.Scheme = "amqps"
	return u.String()
}

// Proxy listens on 127.0.0.1 with TLS as cfg says and forwards the bytes of each
// connection to and from target, over plain TCP, until the test ends. It returns its
// address. A client that refuses the proxy's certificate ends its connection in the
// handshake, and nothing reaches target.
func Proxy(t testing.TB, cfg *tls.Config, target string) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		wg    sync.WaitGroup
	)
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if conns == nil { // closing
			c.Close()
			return false
		}
		conns[c] = struct{}{}
		return true
	}
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		conns = nil
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return // closed at cleanup
			}
			if !track(client) {
				return
			}
			wg.Go(func() {
				defer client.Close()
				// The handshake first: a client that refuses the certificate never costs
				// the target a connection.
				if err := client.(*tls.Conn).Handshake(); err != nil {
					return
				}
				server, err := net.DialTimeout("tcp", target, 5*time.Second)
				if err != nil {
					return
				}
				if !track(server) {
					return
				}
				defer server.Close()
				pipe(client, server)
			})
		}
	})
	return ln.Addr().String()
}

// pipe copies both ways until either side ends, then ends both.
func pipe(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // ends with an error when the other copy closes src
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}
