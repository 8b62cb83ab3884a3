package vcdsim_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/deploy/vcdsim"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdexttest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// extSim is a simulator with an API extension registered on a fresh exchange and routing
// key of the local RabbitMQ, and alice's session.
type extSim struct {
	sim           *vcdsim.Server
	base, url     string
	exchange, key string
	token         string // alice's
	hc            *http.Client
}

func startExt(t *testing.T, timeout time.Duration, mutate ...func(*vcdsim.Config)) *extSim {
	t.Helper()
	e := &extSim{url: vcdexttest.RequireBroker(t),
		hc: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}}
	e.exchange, e.key = vcdexttest.UniqueNames(t)
	e.sim, e.base = start(t, append([]func(*vcdsim.Config){func(c *vcdsim.Config) { c.AMQPURL, c.ExtensionTimeout = e.url, vcdsim.Duration(timeout) }},
		mutate...)...)
	provider := client(t, e.base, "administrator", "kaas-admin", "System")
	doc := fmt.Sprintf(`<vmext:Service xmlns="http://www.vmware.com/vcloud/v1.5" xmlns:vmext="http://www.vmware.com/vcloud/extension/v1.5" name="kaas">`+
		`<Description>kaas</Description><vmext:Namespace>kaas</vmext:Namespace><vmext:Enabled>true</vmext:Enabled>`+
		`<vmext:RoutingKey>%s</vmext:RoutingKey><vmext:Exchange>%s</vmext:Exchange>`+
		`<vmext:ApiFilters><vmext:ApiFilter><vmext:UrlPattern>/api/cse/.*</vmext:UrlPattern></vmext:ApiFilter></vmext:ApiFilters></vmext:Service>`,
		e.key, e.exchange)
	req, _ := http.NewRequest(http.MethodPost, e.base+"/api/admin/extension/service", strings.NewReader(doc))
	req.Header.Set("X-Vmware-Vcloud-Access-Token", provider.Client.VCDToken)
	resp, err := e.hc.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register the extension: %v %v", resp, err)
	}
	resp.Body.Close()
	e.token = client(t, e.base, "alice", "alice-pass", "acme").Client.VCDToken
	return e
}

// call makes an API call as alice and returns the answer and how long it took.
func (e *extSim) call(t *testing.T, method, path, body string) (int, http.Header, string, time.Duration) {
	t.Helper()
	req, _ := http.NewRequest(method, e.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+e.token)
	req.Header.Set("Accept", "application/json;version=36.0")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	began := time.Now()
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b), time.Since(began)
}

// consume plays an extension: it declares the extension's exchange and a queue named after
// the routing key, bound with it, and hands each request it receives to answer, which
// returns the reply body (nil: no reply) and when to send it: send is given the function
// that publishes the reply, on a goroutine of its own, and calls it when the test wants the
// reply to go out; a nil send publishes at once.
func consume(t *testing.T, url, exchange, key string, answer func(amqp.Delivery) (body []byte, send func(publish func()))) <-chan amqp.Delivery {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(key, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(key, key, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	deliveries, err := ch.Consume(key, "", true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan amqp.Delivery, 16)
	go func() {
		for d := range deliveries {
			got <- d
			body, send := answer(d)
			if body == nil {
				continue
			}
			replyTo, _ := d.Headers["replyToExchange"].(string)
			publish := func() {
				_ = pub.PublishWithContext(context.Background(), replyTo, d.ReplyTo, false, false, amqp.Publishing{
					ContentType: "application/json", CorrelationId: d.CorrelationId,
					Headers: amqp.Table{"messageType": "ProcessHttpResponse"}, Body: body,
				})
			}
			if send == nil {
				send = func(publish func()) { publish() }
			}
			go send(publish)
		}
	}()
	return got
}

// reply is a reply body as CSE writes one.
func reply(id string, status int, headers map[string]any, body string) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "statusCode": status, "headers": headers,
		"body": base64.StdEncoding.EncodeToString([]byte(body)), "request": false})
	return b
}

// envelope is a request message's body, [request, securityContext], as decoded JSON.
func envelope(t *testing.T, d amqp.Delivery) (map[string]any, map[string]any) {
	t.Helper()
	var env []map[string]any
	if err := json.Unmarshal(d.Body, &env); err != nil || len(env) != 2 {
		t.Fatalf("the request message is not [request, securityContext]: %s (%v)", d.Body, err)
	}
	return env[0], env[1]
}

func receive(t *testing.T, got <-chan amqp.Delivery) amqp.Delivery {
	t.Helper()
	select {
	case d := <-got:
		return d
	case <-time.After(10 * time.Second):
		t.Fatal("the extension received nothing")
	}
	return amqp.Delivery{}
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// A call is relayed in VCD's envelope and with VCD's message properties, and the
// extension's reply becomes the HTTP answer.
func TestExtensionRelay(t *testing.T) {
	e := startExt(t, 10*time.Second)
	got := consume(t, e.url, e.exchange, e.key, func(d amqp.Delivery) ([]byte, func(func())) {
		req, _ := envelope(t, d)
		if req["method"] == http.MethodGet {
			return reply(req["id"].(string), 200, map[string]any{"Content-Type": "application/json"}, `[]`), nil
		}
		return reply(req["id"].(string), 202, map[string]any{"Content-Type": "application/json", "Content-Length": 16,
			"Location": "/api/task/42", "X-Extension": "not relayed"}, `{"id":"task-42"}`), nil
	})

	// alice's rights are in the security context once CSE's type made them and they are
	// published to acme.
	registerType(t, login(t, e.base, "administrator", "kaas-admin", "System"), "2.1.0", "acme")
	code, h, body, _ := e.call(t, http.MethodPost, "/api/cse/3.0/clusters?page=2&sortAsc=name", `{"name":"prod"}`)
	if code != http.StatusAccepted || body != `{"id":"task-42"}` || h.Get("Content-Type") != "application/json" ||
		h.Get("Location") != "/api/task/42" || h.Get("X-Extension") != "" {
		t.Fatalf("the answer: %d %v %s", code, h, body)
	}
	d := receive(t, got)
	replyTo, _ := d.Headers["replyToExchange"].(string)
	if d.CorrelationId == "" || !strings.HasPrefix(d.ReplyTo, "amq.gen-") || !strings.HasPrefix(replyTo, "vcdsim-reply-") ||
		d.Headers["messageType"] != "ProcessHttpRequest" || d.DeliveryMode != amqp.Persistent || d.ContentType != "application/json" {
		t.Fatalf("the request's properties: correlation %q, reply to %q on %q, headers %v, delivery mode %d, content type %q",
			d.CorrelationId, d.ReplyTo, replyTo, d.Headers, d.DeliveryMode, d.ContentType)
	}
	req, sc := envelope(t, d)
	// What varies from run to run is checked, then set aside for the golden file.
	headers, _ := req["headers"].(map[string]any)
	if !uuidRE.MatchString(fmt.Sprint(req["id"])) || headers["Host"] != strings.TrimPrefix(e.base, "https://") ||
		req["localPort"].(float64) <= 0 || req["remotePort"].(float64) <= 0 {
		t.Fatalf("the request: %v", req)
	}
	req["id"], headers["Host"], req["localPort"], req["remotePort"] = "(uuid)", "(host:port)", "(port)", "(port)"
	golden(t, "relay-request.golden.json", []any{req, sc})

	// A call without a query or a body: queryString is null, body empty.
	if code, _, body, _ := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", ""); code != 200 || body != "[]" {
		t.Fatalf("GET: %d %s", code, body)
	}
	req, _ = envelope(t, receive(t, got))
	if q, ok := req["queryString"]; !ok || q != nil || req["body"] != "" {
		t.Fatalf("a GET without query or body: %v", req)
	}

	// After the broker drops the connection (a restart), the next call connects anew.
	e.sim.DropBrokerConnections()
	if code, _, body, _ := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", ""); code != 200 || body != "[]" {
		t.Fatalf("after the connection dropped: %d %s", code, body)
	}
	receive(t, got)
}

// golden compares a value's indented JSON with testdata/name, or writes it with -update.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := b.Bytes()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n got %s\nwant %s", path, got, want)
	}
}

// A reply that comes after the extension timeout is a 504 for its caller, and is not
// taken for the reply to the next call.
func TestExtensionTimeout(t *testing.T) {
	const timeout = time.Second
	e := startExt(t, timeout)
	n := 0
	secondAsked, lateSent := make(chan struct{}), make(chan struct{})
	consume(t, e.url, e.exchange, e.key, func(d amqp.Delivery) ([]byte, func(func())) {
		n++
		req, _ := envelope(t, d)
		switch n {
		case 1:
			// Late: it goes out once the second call is asked (the first had its 504 by
			// then), and arrives while the second call waits for its own.
			return reply(req["id"].(string), 200, map[string]any{"Content-Type": "application/json"}, `"late"`), func(publish func()) {
				select {
				case <-secondAsked:
					publish()
					close(lateSent)
				case <-t.Context().Done():
				}
			}
		case 2:
			close(secondAsked)
			return reply(req["id"].(string), 200, map[string]any{"Content-Type": "application/json"}, `"second"`), func(publish func()) {
				select {
				case <-lateSent:
					publish()
				case <-t.Context().Done():
				}
			}
		}
		t.Errorf("request %d: the test makes two", n)
		return nil, nil
	})
	code, _, body, took := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", "")
	if code != http.StatusGatewayTimeout || !strings.Contains(body, "External service &#39;kaas&#39; failed to respond in the specified timeout") ||
		took < timeout {
		t.Fatalf("a reply after the timeout: %d after %s: %s", code, took, body)
	}
	if code, _, body, _ := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", ""); code != 200 || body != `"second"` {
		t.Fatalf("the next call: %d %s", code, body)
	}
}

// A request the broker cannot route is refused at once, with VCD's 504, not after the
// extension timeout; a publish to an exchange that does not exist too, and the relay
// publishes again once it does.
func TestExtensionUnroutable(t *testing.T) {
	t.Run("no queue bound", func(t *testing.T) {
		e := startExt(t, 20*time.Second)
		conn, err := amqp.Dial(e.url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ch, _ := conn.Channel()
		if err := ch.ExchangeDeclare(e.exchange, amqp.ExchangeDirect, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		code, _, body, took := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", "")
		if code != http.StatusGatewayTimeout || took > 5*time.Second || !strings.Contains(body, "GATEWAY_TIMEOUT") {
			t.Fatalf("an unroutable request: %d after %s: %s", code, took, body)
		}
	})
	t.Run("no exchange", func(t *testing.T) {
		e := startExt(t, 20*time.Second)
		code, _, _, took := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", "")
		if code != http.StatusGatewayTimeout || took > 5*time.Second {
			t.Fatalf("a request to a missing exchange: %d after %s", code, took)
		}
		consume(t, e.url, e.exchange, e.key, func(d amqp.Delivery) ([]byte, func(func())) {
			req, _ := envelope(t, d)
			return reply(req["id"].(string), 200, map[string]any{}, "ok"), nil
		})
		if code, _, body, _ := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", ""); code != 200 || body != "ok" {
			t.Fatalf("once the exchange exists: %d %s", code, body)
		}
	})
}

// A reply the protocol does not allow is no answer: the caller gets VCD's 504.
func TestExtensionBadReplies(t *testing.T) {
	e := startExt(t, 10*time.Second)
	// Reply bodies; %[1]s is the request's id.
	replies := map[string]string{
		"not JSON":         `{nope`,
		"body not base64":  `{"id":"%[1]s","statusCode":200,"headers":{},"body":"!!","request":false}`,
		"no status":        `{"id":"%[1]s","statusCode":0,"headers":{},"body":"","request":false}`,
		"a request":        `{"id":"%[1]s","statusCode":200,"headers":{},"body":"","request":true}`,
		"no request field": `{"id":"%[1]s","statusCode":200,"headers":{},"body":""}`,
		"header of a list": `{"id":"%[1]s","statusCode":200,"headers":{"X":[1]},"body":"","request":false}`,
	}
	consume(t, e.url, e.exchange, e.key, func(d amqp.Delivery) ([]byte, func(func())) {
		req, _ := envelope(t, d)
		which, _ := base64.StdEncoding.DecodeString(req["body"].(string))
		body := replies[string(which)]
		if strings.Contains(body, "%[1]s") {
			body = fmt.Sprintf(body, req["id"])
		}
		return []byte(body), nil
	})
	for name := range replies {
		t.Run(name, func(t *testing.T) {
			code, _, body, took := e.call(t, http.MethodPost, "/api/cse/3.0/clusters", name)
			if code != http.StatusGatewayTimeout || took > 5*time.Second {
				t.Fatalf("%d after %s: %s", code, took, body)
			}
		})
	}
}

// The security context carries the URNs of the rights VCD grants the caller: configured
// rights that exist and, for a tenant, are published to its org; never names.
func TestSecurityContextRights(t *testing.T) {
	e := startExt(t, 10*time.Second, func(c *vcdsim.Config) {
		c.Orgs[0].Users[0].Rights = []string{"cse:nativeCluster: Full Access", "No such right", "Organization vDC: View", "cse:nativeCluster: View"}
		c.Providers[0].Rights = []string{"cse:nativeCluster: Administrator Full access"}
	})
	got := consume(t, e.url, e.exchange, e.key, func(d amqp.Delivery) ([]byte, func(func())) {
		req, _ := envelope(t, d)
		return reply(req["id"].(string), 200, map[string]any{}, "ok"), nil
	})
	admin := login(t, e.base, "administrator", "kaas-admin", "System")
	rightsOf := func(token string) []string {
		t.Helper()
		e.token = token
		if code, _, body, _ := e.call(t, http.MethodGet, "/api/cse/3.0/clusters", ""); code != 200 {
			t.Fatalf("call: %d %s", code, body)
		}
		_, sc := envelope(t, receive(t, got))
		var out []string
		for _, r := range sc["rights"].([]any) {
			out = append(out, r.(string))
		}
		return out
	}
	alice := e.token
	urn := vcdsim.RightURN
	for _, step := range []struct {
		name        string
		before      func()
		alice, prov []string
	}{
		{"no type yet", func() {}, []string{urn("Organization vDC: View")}, nil},
		{"type, unpublished", func() { registerType(t, admin, "2.1.0") }, []string{urn("Organization vDC: View")},
			[]string{urn("cse:nativeCluster: Administrator Full access")}},
		{"published", func() { publish(t, admin, "acme") },
			[]string{urn("cse:nativeCluster: Full Access"), urn("Organization vDC: View"), urn("cse:nativeCluster: View")},
			[]string{urn("cse:nativeCluster: Administrator Full access")}},
	} {
		step.before()
		if a := rightsOf(alice); !slices.Equal(a, step.alice) {
			t.Errorf("%s: alice's rights %v, want %v", step.name, a, step.alice)
		}
		if p := rightsOf(admin.token); !slices.Equal(p, step.prov) {
			t.Errorf("%s: the provider's rights %v, want %v", step.name, p, step.prov)
		}
	}
}
