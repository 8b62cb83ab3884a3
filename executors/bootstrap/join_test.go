package bootstrap

import (
	"regexp"
	"strings"
	"testing"
)

const (
	tok  = "abcdef.0123456789abcdef"
	hash = "sha256:4e1a713dff40369e47ec034caecad154156838b8e015e4c7e9f6049f7e8ef720"
)

func TestParseJoin(t *testing.T) {
	ok := func(ep string) Join { return Join{Endpoint: ep, Token: tok, CACertHash: hash} }
	tests := []struct {
		in   string
		want Join // zero: refused
	}{
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, ok("10.0.0.10:6443")},
		// As kubeadm prints it: a trailing space (and the line end, unless $(...) took it).
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " ", ok("10.0.0.10:6443")},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " \n", ok("10.0.0.10:6443")},
		{"  kubeadm\tjoin  10.0.0.10:6443 \\\n", Join{}},
		{"\tkubeadm  join\t10.0.0.10:6443   --token " + tok + "\r\n--discovery-token-ca-cert-hash  " + hash, ok("10.0.0.10:6443")},
		{"kubeadm join 10.0.0.10:6443 --discovery-token-ca-cert-hash " + hash + " --token " + tok, ok("10.0.0.10:6443")},
		{"kubeadm join [fd00::10]:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, ok("[fd00::10]:6443")},
		{"kubeadm join api.prod.example.com:443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, ok("api.prod.example.com:443")},
		{"kubeadm join K8S-API:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, ok("K8S-API:6443")},

		// Refused: anything else.
		{"", Join{}},
		{"kubeadm join", Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " --control-plane", Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " --certificate-key x", Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --token " + tok, Join{}},
		{"kubeadm join 10.0.0.10:6443 --discovery-token-ca-cert-hash " + hash + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token=" + tok + " --discovery-token-ca-cert-hash=" + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-unsafe-skip-ca-verification x", Join{}},
		{"sudo kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm reset 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + "; touch /x", Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + ";touch", Join{}},
		{"kubeadm join $(touch /x):6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join `id`:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token $(id).0123456789abcdef --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token ABCDEF.0123456789ABCDEF --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token abcdef.0123456789abcde --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token abcdef0123456789abcdef --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash sha256:00", Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + strings.ToUpper(hash), Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash sha512:" + hash[7:], Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + "0", Join{}},
		{"kubeadm join 10.0.0.10 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:0 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:65536 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:06443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:+6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join fd00::10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join [10.0.0.10]:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join [fe80::1%eth0]:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join [api.example.com]:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join api_x.example.com:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join -api.example.com:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join api..example.com:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join api.example.com.:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join " + strings.Repeat("a", 64) + ":6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join :6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join ünï.example.com:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443\u00a0--token " + tok + " --discovery-token-ca-cert-hash " + hash, Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + strings.Repeat(" ", maxJoin), Join{}},
		{"kubeadm join 10.0.0.10:6443 --token " + tok + "\x00 --discovery-token-ca-cert-hash " + hash, Join{}},
	}
	for _, tt := range tests {
		got, err := ParseJoin(tt.in)
		if got != tt.want || (err == nil) != (tt.want != Join{}) {
			t.Errorf("ParseJoin(%.100q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
		if err != nil && (strings.Contains(err.Error(), tok[7:]) || strings.Contains(err.Error(), hash[7:])) {
			t.Errorf("the error quotes the secret: %v", err)
		}
		if err == nil {
			if again, err := ParseJoin(got.String()); err != nil || again != got {
				t.Errorf("%+v does not read back: %+v %v", got, again, err)
			}
		}
	}
}

// Whatever a guest reports, ParseJoin refuses it or returns parts that are nothing but
// what kubeadm prints: no space, quote or shell character can get through.
func FuzzParseJoin(f *testing.F) {
	for _, s := range []string{
		"kubeadm join 10.0.0.10:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + " ",
		"kubeadm join [fd00::10]:6443 --discovery-token-ca-cert-hash " + hash + " --token " + tok,
		"kubeadm join api.example.com:6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash + "; touch /x",
		"kubeadm join $(id):6443 --token " + tok + " --discovery-token-ca-cert-hash " + hash,
		"", "kubeadm join",
	} {
		f.Add(s)
	}
	endpoint := regexp.MustCompile(`^([0-9a-zA-Z.-]+|\[[0-9a-fA-F:.]+\]):[0-9]{1,5}$`)
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJoin(s)
		if err != nil {
			if j != (Join{}) {
				t.Fatalf("refused with parts %+v", j)
			}
			return
		}
		if !endpoint.MatchString(j.Endpoint) || !tokenRE.MatchString(j.Token) || !hashRE.MatchString(j.CACertHash) {
			t.Fatalf("accepted %q as %+v", s, j)
		}
		if again, err := ParseJoin(j.String()); err != nil || again != j {
			t.Fatalf("%+v does not read back: %+v %v", j, again, err)
		}
		// Rendering the parts gives a worker's user data whatever they are.
		p := plain("worker")
		p.JoinCommand = s
		if _, err := Render("worker", p); err != nil {
			t.Fatalf("a join command ParseJoin takes does not render: %v", err)
		}
	})
}
