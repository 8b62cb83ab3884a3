package drill_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/kaasproject/kaas/internal/gobuild"
)

// bins are the binaries the drills run as processes, built from this module once per test
// run: kaasd, and nats-server at the version go.mod names.
type bins struct{ kaasd, nats string }

var binDir string

var buildBins = sync.OnceValues(func() (bins, error) {
	dir, err := os.MkdirTemp("", "kaas-drill-bin")
	if err != nil {
		return bins{}, err
	}
	binDir = dir
	b, err := gobuild.Build(context.Background(), dir, "github.com/kaasproject/kaas/deploy/cmd/kaasd", "github.com/nats-io/nats-server/v2")
	if err != nil {
		return bins{}, err
	}
	return bins{kaasd: b[0], nats: b[1]}, nil
})

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// freePorts returns n ports nothing listens on, all different.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close() // held until all are chosen, so that none comes twice
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// waitFor is waittest.Eventually for goroutines other than the test's: it returns cond's
// last error instead of failing the test.
func waitFor(within, tick time.Duration, cond func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", within, err)
		}
		time.Sleep(tick)
	}
}

var local = &http.Client{Timeout: 3 * time.Second}

// get returns the status and body of a GET on a local monitoring endpoint.
func get(url string) (int, string, error) {
	resp, err := local.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// proc is one process of the drill's, restarted on the same files and ports. An exit
// nobody asked for is counted and followed by a restart a second later, as systemd's
// Restart=always with RestartSec=1 does for a provider.
type proc struct {
	name string
	path string
	args []string
	env  []string
	log  string
	// ready reports whether the process serves; start waits for it.
	ready func() error
	// supervise restarts the process when it exits by itself.
	supervise bool

	mu        sync.Mutex
	cmd       *exec.Cmd
	exited    chan struct{}
	planned   bool // the running process is being stopped on purpose
	closed    bool
	unplanned int
}

// launch starts the process without waiting for it to serve.
func (p *proc) launch() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New(p.name + " is closed")
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "--- %s: %s starts\n", time.Now().Format(time.RFC3339Nano), p.name)
	cmd := exec.Command(p.path, p.args...)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	exited := make(chan struct{})
	p.cmd, p.exited, p.planned = cmd, exited, false
	go func() {
		_ = cmd.Wait() // the exit status says nothing the log does not
		logf.Close()
		p.mu.Lock()
		restart := !p.planned && !p.closed && p.supervise
		if !p.planned && !p.closed {
			p.unplanned++
		}
		p.mu.Unlock()
		close(exited)
		if restart {
			time.AfterFunc(time.Second, func() { _ = p.launch() }) // RestartSec=1, not a wait for a condition
		}
	}()
	return nil
}

// start launches the process and waits until it serves.
func (p *proc) start(within time.Duration) error {
	if err := p.launch(); err != nil {
		return err
	}
	return p.waitReady(within)
}

func (p *proc) waitReady(within time.Duration) error {
	if err := waitFor(within, 50*time.Millisecond, func() error {
		p.mu.Lock()
		exited := p.exited
		p.mu.Unlock()
		select {
		case <-exited:
			return fmt.Errorf("%s exited", p.name)
		default:
		}
		return p.ready()
	}); err != nil {
		return fmt.Errorf("%s not ready (its log: %s): %w", p.name, p.log, err)
	}
	return nil
}

// signal sends sig to the running process on purpose and waits for it to exit.
func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.planned = true
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	<-exited
}

func (p *proc) kill() { p.signal(syscall.SIGKILL) }
func (p *proc) stop() { p.signal(syscall.SIGTERM) }

// close stops the process for good: SIGTERM, then SIGKILL to its process group if it
// lingers.
func (p *proc) close() {
	p.mu.Lock()
	p.closed, p.planned = true, true
	cmd, exited := p.cmd, p.exited
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	}
}

// exits is how many times the process exited without being asked to.
func (p *proc) exits() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unplanned
}

// natsNode is one node of the NATS cluster, run from the shipped deploy/nats config with
// the test's ports, which stay its own across restarts.
type natsNode struct {
	*proc
	name                  string
	client, route, monitr int
}

func (n *natsNode) url() string     { return "nats://127.0.0.1:" + strconv.Itoa(n.client) }
func (n *natsNode) monitor() string { return "http://127.0.0.1:" + strconv.Itoa(n.monitr) }

// healthy reports whether the node is current with the cluster: a meta leader, and every
// stream and consumer caught up (nats-server's /healthz without options).
func (n *natsNode) healthy() error {
	code, body, err := get(n.monitor() + "/healthz")
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("%s: %d %s", n.name, code, strings.TrimSpace(body))
	}
	return nil
}

func newNATSCluster(t *testing.T, natsBin, dir string) []*natsNode {
	t.Helper()
	ports := freePorts(t, 9)
	var routes []string
	for i := range 3 {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[3+i]))
	}
	var nodes []*natsNode
	for i := range 3 {
		n := &natsNode{name: fmt.Sprintf("nats-%d", i+1), client: ports[i], route: ports[3+i], monitr: ports[6+i]}
		conf, err := filepath.Abs(fmt.Sprintf("../nats/node-%d.conf", i+1))
		if err != nil {
			t.Fatal(err)
		}
		n.proc = &proc{name: n.name, path: natsBin, log: filepath.Join(dir, n.name+".log"),
			// The shipped file, with this test's ports: flags override the file's.
			args: []string{"-c", conf, "-p", strconv.Itoa(n.client), "-m", strconv.Itoa(n.monitr),
				"--cluster", "nats://127.0.0.1:" + strconv.Itoa(n.route), "--routes", strings.Join(routes, ",")},
			env: []string{"KAAS_NATS_STORE=" + filepath.Join(dir, n.name)},
			ready: func() error {
				code, body, err := get(n.monitor() + "/healthz?js-enabled-only=true")
				if err == nil && code != http.StatusOK {
					err = fmt.Errorf("%d %s", code, body)
				}
				return err
			}}
		nodes = append(nodes, n)
	}
	return nodes
}

// broker is a RabbitMQ node of the drills' own, on its own port and files: restarting it
// disturbs no other test on the machine's broker, and it keeps its durable queue and
// persistent messages across the restart as any RabbitMQ does.
type broker struct {
	*proc
	url string
}

func startBroker(t *testing.T, dir string) *broker {
	t.Helper()
	server := "/usr/lib/rabbitmq/bin/rabbitmq-server" // Debian's, run as this user (the one in PATH switches to rabbitmq)
	if _, err := os.Stat(server); err != nil {
		if server, err = exec.LookPath("rabbitmq-server"); err != nil {
			t.Fatalf("the RabbitMQ drill runs a broker of its own and needs rabbitmq-server installed: %v", err)
		}
	}
	ports := freePorts(t, 2)
	base := filepath.Join(dir, "rabbitmq")
	if err := os.MkdirAll(base, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "enabled_plugins"), []byte("[].\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &broker{url: fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", ports[0])}
	b.proc = &proc{name: "rabbitmq", path: server, log: filepath.Join(dir, "rabbitmq.log"), env: []string{
		fmt.Sprintf("RABBITMQ_NODENAME=kaas-drill-%d@localhost", ports[0]),
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", "RABBITMQ_NODE_PORT=" + strconv.Itoa(ports[0]), "RABBITMQ_DIST_PORT=" + strconv.Itoa(ports[1]),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(base, "mnesia"), "RABBITMQ_LOG_BASE=" + filepath.Join(base, "log"),
		"RABBITMQ_PID_FILE=" + filepath.Join(base, "pid"), "RABBITMQ_CONFIG_FILE=" + filepath.Join(base, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(base, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(base, "enabled_plugins"),
	}, ready: func() error {
		conn, err := amqp.DialConfig(b.url, amqp.Config{Dial: amqp.DefaultDial(2 * time.Second)})
		if err != nil {
			return err
		}
		return conn.Close()
	}}
	t.Cleanup(b.close)
	if err := b.start(3 * time.Minute); err != nil {
		t.Fatal(err)
	}
	return b
}
