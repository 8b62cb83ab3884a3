package vcdextclient

import (
	"crypto/tls"
	"os"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultURL is the broker that `make test` starts.
const DefaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// AMQPURL returns $KAAS_AMQP_URL, or DefaultURL when it is unset.
func AMQPURL() string {
	if u := os.Getenv("KAAS_AMQP_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Dial connects to url, naming the connection name, with a short handshake deadline so
// that a missing broker fails fast.
func Dial(url, name string) (*amqp.Connection, error) { return DialTLS(url, name, nil) }

// DialTLS is Dial to an amqps:// url whose broker is checked with tlsCfg (nil: the
// system's CAs and the URL's host).
func DialTLS(url, name string, tlsCfg *tls.Config) (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(name)
	return amqp.DialConfig(url, amqp.Config{
		Properties:      props,
		Heartbeat:       10 * time.Second,
		Dial:            amqp.DefaultDial(5 * time.Second),
		TLSClientConfig: tlsCfg,
	})
}
