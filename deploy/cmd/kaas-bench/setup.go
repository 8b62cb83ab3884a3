package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/deploy/kaasd"
	"github.com/kaasproject/kaas/deploy/svc"
	"github.com/kaasproject/kaas/events"
	"github.com/kaasproject/kaas/events/cse"
	"github.com/kaasproject/kaas/events/jsstore"
	"github.com/kaasproject/kaas/ingress"
	"github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"
)

const (
	createPath = "/api/cse/3.0/clusters"
	// benchStream and benchSubjects are the bare JetStream cell's stream, shaped like
	// KAAS_COMMANDS: one subject per cluster.
	benchStream   = "KAAS_BENCH"
	benchPrefix   = "kaas.bench.cluster."
	benchSubjects = benchPrefix + "*"
)

// env is everything the cells run against. close undoes whatever setup got done.
type env struct {
	runID string
	dir   string
	url   string

	// The echo ceiling.
	echoExchange, echoKey string
	echoStop              context.CancelFunc
	echoDone              chan error
	echoClient            *vcdextclient.Client

	// The echo ceiling with a reply as large as kaas's.
	sizedExchange, sizedKey string
	sizedStop               context.CancelFunc
	sizedDone               chan error
	sizedClient             *vcdextclient.Client
	replySize               int

	// kaasd, syncing each command to disk before it answers (the default), and relaxed.
	kaas, kaasRelaxed kaasInstance

	// Bare JetStream, syncing before it acknowledges (kaasd's default), and relaxed.
	bare, bareRelaxed bareJetStream
	command           []byte // an encoded CreateCluster command, the payload of each publish

	// A three-node NATS cluster syncing before each ack, with a kaasd on it whose streams
	// have three replicas, and bare publishes to a stream of three replicas.
	cluster *natsCluster
	kaasR3  kaasInstance
	bareR3  bareJetStream

	names names
}

// names hands out cluster names unique to the run: a letter, the run id, a counter in
// base 36. At most 1+8+1+13 = 23 characters, within the 25 kaas allows.
type names struct {
	prefix string
	n      atomic.Uint64
}

func (n *names) next() string { return n.prefix + strconv.FormatUint(n.n.Add(1), 36) }

// bodyTemplate is a valid v2.1 create entity split around its name, so that a request
// body costs a concatenation, not a json.Marshal, on the client side.
var bodyHead, bodyTail = func() (string, string) {
	const marker = "NAME-MARKER"
	b, err := json.Marshal(entity(marker))
	if err != nil {
		panic(err)
	}
	head, tail, ok := strings.Cut(string(b), marker)
	if !ok {
		panic("kaas-bench: entity template lost its name")
	}
	return head, tail
}()

// entity is a valid CSE v2.1 native cluster entity, as deploy/kaasd's end-to-end test and
// the README's example send it.
func entity(name string) map[string]any {
	return map[string]any{
		"apiVersion": "cse.vmware.com/v2.1", "kind": "native",
		"metadata": map[string]any{"name": name, "orgName": "acme", "virtualDataCenterName": "acme-vdc", "site": "https://vcd.example.com"},
		"spec": map[string]any{
			"distribution": map[string]any{"templateName": "ubuntu-22.04_k8s-1.29_antrea-1.14", "templateRevision": 1},
			"topology": map[string]any{"controlPlane": map[string]any{"count": 1},
				"workers": map[string]any{"count": 2}},
			"settings": map[string]any{"ovdcNetwork": "acme-net", "rollbackOnFailure": true},
		},
	}
}

func (e *env) createBody() []byte { return []byte(bodyHead + e.names.next() + bodyTail) }

// setup starts what the measured paths need (the echo servers, kaasd instances, embedded
// JetStream servers and a NATS cluster), each with a client, and checks that each answers.
// On error the returned env (if not nil) still needs close.
func setup(ctx context.Context, url string, prefetch int, measured []string, logf func(string, ...any)) (*env, error) {
	if err := probeBroker(url); err != nil {
		return nil, fmt.Errorf("RabbitMQ is not reachable at %s (set KAAS_AMQP_URL, or run `make rabbitmq`): %w", redact(url), err)
	}
	id := make([]byte, 4)
	_, _ = rand.Read(id)
	e := &env{runID: hex.EncodeToString(id), url: url}
	e.names.prefix = "b" + e.runID + "-"
	var err error
	if e.dir, err = os.MkdirTemp("", "kaas-bench-"); err != nil {
		return nil, err
	}
	want := func(paths ...string) bool {
		return slices.ContainsFunc(paths, func(p string) bool { return slices.Contains(measured, p) })
	}
	if want(pathEcho) {
		if err := e.startEcho(ctx, prefetch, logf); err != nil {
			return e, err
		}
	}

	// kaasd: ingress and projector, no executor; once syncing before each ack, once relaxed.
	// The same-size echo learns the size of kaas's answer from the first.
	if want(pathKaas, pathEchoSized) {
		if err := e.kaas.start(ctx, e, "kaas", relaxedSync(0), logf); err != nil {
			return e, err
		}
	}
	if want(pathKaasRelaxed) {
		if err := e.kaasRelaxed.start(ctx, e, "kaas-relaxed", relaxedSync(relaxedEvery), logf); err != nil {
			return e, err
		}
	}
	if want(pathEchoSized) {
		if err := e.startSizedEcho(ctx, prefetch, logf); err != nil {
			return e, err
		}
	}

	// Three replicas: a cluster of three nodes, kaasd on it and bare publishes to it.
	if want(pathKaasR3, pathJetStreamR3) {
		logf("starting a NATS cluster of %d nodes in this process (sync before ack)", clusterNodes)
		if e.cluster, err = startCluster(filepath.Join(e.dir, "cluster"), "kaas-bench-"+e.runID); err != nil {
			return e, err
		}
		if !e.cluster.SyncAlways() {
			return e, errors.New("nats cluster: a node does not sync before it acknowledges")
		}
	}
	if want(pathKaasR3) {
		if err := e.kaasR3.start(ctx, e, "kaas-r3", func(c *kaasd.Config) { c.NATSURL, c.Replicas = e.cluster.URLs(), clusterNodes }, logf); err != nil {
			return e, err
		}
	}

	// Bare JetStream, as kaasd's embedded one runs it and relaxed, and on the cluster.
	var bares []*bareJetStream
	if want(pathJetStream) {
		if err := e.bare.startEmbedded(ctx, e.dir, "jetstream", 0, logf); err != nil {
			return e, err
		}
		bares = append(bares, &e.bare)
	}
	if want(pathJetStreamRelaxed) {
		if err := e.bareRelaxed.startEmbedded(ctx, e.dir, "jetstream-relaxed", relaxedEvery, logf); err != nil {
			return e, err
		}
		bares = append(bares, &e.bareRelaxed)
	}
	if want(pathJetStreamR3) {
		logf("bare JetStream publishes to a stream of %d replicas on the cluster", clusterNodes)
		nc, err := nats.Connect(e.cluster.URLs(), nats.Name("kaas-bench"))
		if err != nil {
			return e, fmt.Errorf("connect to the NATS cluster: %w", err)
		}
		if err := e.bareR3.startOn(ctx, nc, clusterNodes); err != nil {
			return e, err
		}
		bares = append(bares, &e.bareR3)
	}
	if len(bares) > 0 {
		if e.command, err = sampleCommand(); err != nil {
			return e, err
		}
	}
	for _, b := range bares {
		if err := b.publish(ctx, e.command); err != nil {
			return e, fmt.Errorf("first publish to %s: %w", benchStream, err)
		}
	}
	return e, nil
}

// startEcho starts the echo ceiling and waits for its first answer.
func (e *env) startEcho(ctx context.Context, prefetch int, logf func(string, ...any)) error {
	e.echoExchange, e.echoKey = "kaas-bench-x-echo-"+e.runID, "kaas-bench-q-echo-"+e.runID
	logf("starting the AMQP echo server (exchange %s, prefetch %d)", e.echoExchange, prefetch)
	echoCtx, stop := context.WithCancel(context.Background())
	e.echoStop, e.echoDone = stop, make(chan error, 1)
	go func() { e.echoDone <- vcdextclient.RunEcho(echoCtx, e.url, e.echoExchange, e.echoKey, prefetch) }()
	var err error
	if e.echoClient, err = vcdextclient.NewClient(ctx, e.url, e.echoExchange, e.echoKey); err != nil {
		return fmt.Errorf("echo client: %w", err)
	}
	// RunEcho declares its queue asynchronously: until then requests are unroutable.
	if err := e.firstAnswer(ctx, e.echoClient, e.echoDone); err != nil {
		return fmt.Errorf("echo server: %w", err)
	}
	return nil
}

// startSizedEcho starts the second echo, which answers with a body as large as kaas's 202,
// so that the size of the answer (which VCD relays) is not counted against kaas's own work.
func (e *env) startSizedEcho(ctx context.Context, prefetch int, logf func(string, ...any)) error {
	resp, err := e.kaas.client.Do(ctx, vcdextclient.Req{Method: "POST", Path: createPath, Body: e.createBody()})
	if err != nil {
		return fmt.Errorf("kaasd: %w", err)
	}
	e.replySize = len(resp.Body)
	e.sizedExchange, e.sizedKey = "kaas-bench-x-sized-"+e.runID, "kaas-bench-q-sized-"+e.runID
	logf("starting the AMQP echo server with %d-byte replies (exchange %s)", e.replySize, e.sizedExchange)
	sizedCtx, sstop := context.WithCancel(context.Background())
	e.sizedStop, e.sizedDone = sstop, make(chan error, 1)
	go func() {
		e.sizedDone <- vcdextclient.RunEchoSize(sizedCtx, e.url, e.sizedExchange, e.sizedKey, prefetch, e.replySize)
	}()
	if e.sizedClient, err = vcdextclient.NewClient(ctx, e.url, e.sizedExchange, e.sizedKey); err != nil {
		return fmt.Errorf("sized echo client: %w", err)
	}
	if err := e.firstAnswer(ctx, e.sizedClient, e.sizedDone); err != nil {
		return fmt.Errorf("sized echo server: %w", err)
	}
	return nil
}

// relaxedEvery is how often the relaxed servers sync to disk: nats-server's default.
const relaxedEvery = 2 * time.Minute

// relaxedSync sets a kaasd's embedded JetStream to acknowledge before it syncs, syncing
// every d (KAAS_NATS_RELAXED_SYNC); 0 keeps the default, a sync before each ack.
func relaxedSync(d time.Duration) func(*kaasd.Config) {
	return func(c *kaasd.Config) { c.NATSRelaxedSync = d }
}

// kaasInstance is one kaasd playing ingress and projector, and a client of its exchange.
type kaasInstance struct {
	exchange, key string
	stop          context.CancelFunc
	srv           *kaasd.Server
	client        *vcdextclient.Client
}

// start starts the instance in e's directory, its configuration changed by change (where
// its NATS is and how it syncs).
func (k *kaasInstance) start(ctx context.Context, e *env, name string, change func(*kaasd.Config), logf func(string, ...any)) error {
	k.exchange, k.key = "kaas-bench-x-"+name+"-"+e.runID, "kaas-bench-q-"+name+"-"+e.runID
	cfg := kaasd.Defaults()
	cfg.DataDir = filepath.Join(e.dir, name)
	change(&cfg)
	cfg.AMQPURL, cfg.AMQPExchange, cfg.AMQPRoutingKey = e.url, k.exchange, k.key
	cfg.AdminAddr = "127.0.0.1:0"
	cfg.Roles = []string{kaasd.RoleIngress, kaasd.RoleProjector}
	log, err := svc.NewLogger(os.Stderr, "warn")
	if err != nil {
		return err
	}
	nats := "embedded"
	if cfg.NATSURL != "" {
		nats = fmt.Sprintf("%s, %d replicas", cfg.NATSURL, cfg.Replicas)
	}
	logf("starting %s (roles %s, exchange %s, prefetch %d, NATS %s, relaxed sync %v, data %s)", name, strings.Join(cfg.Roles, ","), k.exchange,
		cfg.AMQPPrefetch, nats, cfg.NATSRelaxedSync, cfg.DataDir)
	kctx, kstop := context.WithCancel(context.Background())
	k.stop = kstop
	if k.srv, err = kaasd.Start(kctx, cfg, log); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	if err := enableVDC(ctx, k.srv.Store(), e.runID); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	if k.client, err = vcdextclient.NewClient(ctx, e.url, k.exchange, k.key); err != nil {
		return fmt.Errorf("%s client: %w", name, err)
	}
	if err := e.firstAnswer(ctx, k.client, nil); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// enableVDC does what a provider does before tenants create: it enables the org VDC the
// creates name (the bench's kaasd runs no executor, so the command is what the views fold;
// no VCD is read).
func enableVDC(ctx context.Context, st *jsstore.Store, runID string) error {
	enable := events.Envelope{ID: uuid.NewString(), ClusterID: events.CloudID, OrgID: ingress.SystemOrg, Actor: "kaas-bench",
		Time: time.Now().UTC(), CorrelationID: "kaas-bench-enable-" + runID,
		Payload: events.SetVDCRuntimes{VDC: events.VDC{ID: "urn:vcloud:vdc:" + events.DeriveID("bench", "acme-vdc"), Name: "acme-vdc", OrgName: "acme",
			OrgID: vcdextclient.DefaultCaller().Org}, // the creates' caller's org: a tenant creates in its own org only
			Runtimes: []string{events.RuntimeNative}}}
	if _, _, err := st.AppendCommand(ctx, enable, enable.CorrelationID); err != nil {
		return fmt.Errorf("enable the org VDC: %w", err)
	}
	return nil
}

func (k *kaasInstance) close(logf func(string, ...any)) {
	if k.client != nil {
		_ = k.client.Close()
	}
	if k.srv != nil {
		if err := k.srv.Close(); err != nil {
			logf("kaasd: %v", err)
		}
	}
	if k.stop != nil {
		k.stop()
	}
}

// bareJetStream is a stream shaped like KAAS_COMMANDS, on an embedded nats-server of its
// own or on the cluster: the ceiling of an append.
type bareJetStream struct {
	emb *jsstore.Embedded // nil on the cluster
	nc  *nats.Conn
	js  jetstream.JetStream
}

// startEmbedded starts an embedded nats-server and the stream on it, with one replica.
func (b *bareJetStream) startEmbedded(ctx context.Context, dir, name string, relaxed time.Duration, logf func(string, ...any)) error {
	logf("starting an embedded nats-server for the bare JetStream ceiling (%s, relaxed sync %v)", name, relaxed)
	var err error
	if b.emb, err = jsstore.StartEmbedded(jsstore.EmbeddedConfig{StoreDir: filepath.Join(dir, name), Name: "kaas-bench-" + name,
		RelaxedSync: relaxed}); err != nil {
		return err
	}
	nc, err := b.emb.Connect(nats.Name("kaas-bench"))
	if err != nil {
		return fmt.Errorf("connect to the embedded nats-server: %w", err)
	}
	return b.startOn(ctx, nc, 1)
}

// startOn creates the stream with replicas through nc, which b closes.
func (b *bareJetStream) startOn(ctx context.Context, nc *nats.Conn, replicas int) error {
	b.nc = nc
	var err error
	if b.js, err = jetstream.New(b.nc, jetstream.WithDefaultTimeout(5*time.Second)); err != nil {
		return err
	}
	// The same stream settings as jsstore's KAAS_COMMANDS.
	if _, err = b.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: benchStream, Subjects: []string{benchSubjects}, Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage,
		Replicas: replicas, Duplicates: 10 * time.Minute, Discard: jetstream.DiscardNew, DenyDelete: true, DenyPurge: true, AllowDirect: true,
	}); err != nil {
		return fmt.Errorf("create stream %s: %w", benchStream, err)
	}
	return nil
}

func (b *bareJetStream) close() {
	if b.nc != nil {
		b.nc.Close()
	}
	if b.emb != nil {
		b.emb.Shutdown()
	}
}

// firstAnswer sends one create until it gets its 202, for at most 10 s.
func (e *env) firstAnswer(ctx context.Context, c *vcdextclient.Client, died <-chan error) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := e.create(ctx, c)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("no 202 to a create within 10s: %w", err)
		}
		select {
		case err := <-died:
			return fmt.Errorf("stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// create sends one create and wants its 202.
func (e *env) create(ctx context.Context, c *vcdextclient.Client) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	resp, err := c.Do(ctx, vcdextclient.Req{Method: "POST", Path: createPath, Body: e.createBody()})
	if err != nil {
		return err
	}
	if resp.StatusCode != 202 {
		body := string(resp.Body)
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		return fmt.Errorf("status %d, want 202: %s", resp.StatusCode, body)
	}
	return nil
}

// publish appends one command as jsstore's AppendCommand does: a subject of its own, a
// unique Nats-Msg-Id, the expected stream, a type header, and a synchronous wait for the ack.
func (b *bareJetStream) publish(ctx context.Context, command []byte) error {
	msg := nats.NewMsg(benchPrefix + uuid.NewString())
	msg.Data = command
	msg.Header.Set("Kaas-Type", "CreateCluster")
	ack, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(uuid.NewString()), jetstream.WithExpectStream(benchStream))
	if err != nil {
		return err
	}
	if ack.Duplicate {
		return errors.New("publish reported a duplicate")
	}
	return nil
}

// do returns the request of one path.
func (e *env) do(path string) func(context.Context) error {
	switch path {
	case pathEcho:
		return func(ctx context.Context) error { return e.create(ctx, e.echoClient) }
	case pathEchoSized:
		return func(ctx context.Context) error { return e.create(ctx, e.sizedClient) }
	case pathKaas:
		return func(ctx context.Context) error { return e.create(ctx, e.kaas.client) }
	case pathKaasRelaxed:
		return func(ctx context.Context) error { return e.create(ctx, e.kaasRelaxed.client) }
	case pathJetStream:
		return func(ctx context.Context) error { return e.bare.publish(ctx, e.command) }
	case pathJetStreamRelaxed:
		return func(ctx context.Context) error { return e.bareRelaxed.publish(ctx, e.command) }
	case pathKaasR3:
		return func(ctx context.Context) error { return e.create(ctx, e.kaasR3.client) }
	case pathJetStreamR3:
		return func(ctx context.Context) error { return e.bareR3.publish(ctx, e.command) }
	}
	panic("unknown path " + path)
}

// batchStats is the group-commit counters of the kaasd behind path, if it is one.
func (e *env) batchStats(path string) (jsstore.BatchStats, bool) {
	var k *kaasInstance
	switch path {
	case pathKaas:
		k = &e.kaas
	case pathKaasRelaxed:
		k = &e.kaasRelaxed
	case pathKaasR3:
		k = &e.kaasR3
	}
	if k == nil || k.srv == nil {
		return jsstore.BatchStats{}, false
	}
	c, _ := k.srv.Store().BatchStats()
	return c, true
}

// appendsPerSync is the command appends per stream write between two readings.
func appendsPerSync(a, b jsstore.BatchStats) *float64 {
	writes := (b.Batches - a.Batches) + (b.Alone - a.Alone) + (b.Retried - a.Retried)
	if writes == 0 {
		return nil
	}
	v := float64((b.Batched-a.Batched)+(b.Alone-a.Alone)+(b.Retried-a.Retried)) / float64(writes)
	return &v
}

// sampleCommand is a CreateCluster command as kaas stores it, for a realistic payload size.
func sampleCommand() ([]byte, error) {
	ent, err := cse.DecodeEntity([]byte(bodyHead + "b0123abcd-zzzzzzzz" + bodyTail))
	if err != nil {
		return nil, fmt.Errorf("sample entity: %w", err)
	}
	spec, err := cse.ToSpec(ent)
	if err != nil {
		return nil, fmt.Errorf("sample entity: %w", err)
	}
	caller := vcdextclient.DefaultCaller()
	reqID := uuid.NewString()
	return events.Marshal(events.Envelope{
		ID: events.DeriveID("command", reqID), ClusterID: events.DeriveID("cluster", reqID), OrgID: caller.Org, Actor: caller.User,
		Time: time.Now().UTC(), CorrelationID: reqID, Payload: events.CreateCluster{Spec: spec},
	})
}

// close stops everything setup started, deletes the run's exchanges and queues, and
// removes the temporary directory.
func (e *env) close(logf func(string, ...any)) {
	if e.echoClient != nil {
		_ = e.echoClient.Close()
	}
	if e.sizedClient != nil {
		_ = e.sizedClient.Close()
	}
	if e.sizedStop != nil {
		e.sizedStop()
		if err := <-e.sizedDone; err != nil {
			logf("sized echo server: %v", err)
		}
	}
	if e.echoStop != nil {
		e.echoStop()
		if err := <-e.echoDone; err != nil {
			logf("echo server: %v", err)
		}
	}
	e.kaas.close(logf)
	e.kaasRelaxed.close(logf)
	e.kaasR3.close(logf)
	e.bare.close()
	e.bareRelaxed.close()
	e.bareR3.close()
	e.cluster.shutdown()
	var pairs [][2]string
	if e.echoExchange != "" {
		pairs = append(pairs, [2]string{e.echoExchange, e.echoKey})
	}
	for _, k := range []*kaasInstance{&e.kaas, &e.kaasRelaxed, &e.kaasR3} {
		if k.exchange != "" {
			pairs = append(pairs, [2]string{k.exchange, k.key})
		}
	}
	if e.sizedExchange != "" {
		pairs = append(pairs, [2]string{e.sizedExchange, e.sizedKey})
	}
	if len(pairs) > 0 {
		deleteTopology(e.url, logf, pairs...)
	}
	if e.dir != "" {
		if err := os.RemoveAll(e.dir); err != nil {
			logf("remove %s: %v", e.dir, err)
		}
	}
}

// deleteTopology deletes each {exchange, queue} pair the run declared.
func deleteTopology(url string, logf func(string, ...any), pairs ...[2]string) {
	conn, err := dial(url)
	if err != nil {
		logf("cleanup: dial RabbitMQ: %v", err)
		return
	}
	defer conn.Close()
	for _, p := range pairs {
		// One channel per delete: an error closes the channel it happened on.
		if ch, err := conn.Channel(); err == nil {
			if _, err := ch.QueueDelete(p[1], false, false, false); err != nil {
				logf("cleanup: delete queue %s: %v", p[1], err)
			}
			_ = ch.Close()
		}
		if ch, err := conn.Channel(); err == nil {
			if err := ch.ExchangeDelete(p[0], false, false); err != nil {
				logf("cleanup: delete exchange %s: %v", p[0], err)
			}
			_ = ch.Close()
		}
	}
}

func dial(url string) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("kaas-bench")
	return amqp.DialConfig(url, amqp.Config{Properties: props, Heartbeat: 10 * time.Second, Dial: amqp.DefaultDial(5 * time.Second)})
}

func probeBroker(url string) error {
	conn, err := dial(url)
	if err != nil {
		return err
	}
	return conn.Close()
}

// redact hides the password of an AMQP URL.
func redact(url string) string {
	u, err := neturl.Parse(url)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// isLocal reports whether the broker URL names this machine.
func isLocal(url string) bool {
	u, err := neturl.Parse(url)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
