package vcdexttest

import "github.com/kaasproject/kaas/ingress/vcdext/vcdextclient"

// VCD's side of the protocol, from package vcdextclient.
type (
	Client   = vcdextclient.Client
	Call     = vcdextclient.Call
	Req      = vcdextclient.Req
	Resp     = vcdextclient.Resp
	RawProps = vcdextclient.RawProps
	Result   = vcdextclient.Result
)

// VCD's message types, and the client's errors, from package vcdextclient.
const (
	DefaultURL          = vcdextclient.DefaultURL
	MessageTypeRequest  = vcdextclient.MessageTypeRequest
	MessageTypeResponse = vcdextclient.MessageTypeResponse
)

var (
	ErrUnroutable = vcdextclient.ErrUnroutable
	ErrClosed     = vcdextclient.ErrClosed
)

// The client, the echo extension and the load driver, from package vcdextclient.
var (
	AMQPURL        = vcdextclient.AMQPURL
	NewClient      = vcdextclient.NewClient
	DefaultCaller  = vcdextclient.DefaultCaller
	EncodeRequest  = vcdextclient.EncodeRequest
	DecodeResponse = vcdextclient.DecodeResponse
	EchoBody       = vcdextclient.EchoBody
	RunEcho        = vcdextclient.RunEcho
	RunEchoSize    = vcdextclient.RunEchoSize
	Load           = vcdextclient.Load
)
