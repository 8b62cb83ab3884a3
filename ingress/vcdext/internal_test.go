package vcdext

import (
	"bytes"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestReplyWireFormat(t *testing.T) {
	tests := []struct {
		name string
		rep  *reply
		want string
	}{
		{
			name: "CSE error body",
			rep:  errorReply("r1", 400, "invalid request envelope: request id missing"),
			want: `{"id":"r1","statusCode":400,"headers":{"Content-Length":102,"Content-Type":"application/json"},` +
				`"body":"eyJtZXNzYWdlIjp7Im1pbm9yIGVycm9yIGNvZGUiOi0xLCJlcnJvciBkZXNjcmlwdGlvbiI6ImludmFsaWQgcmVxdWVzdCBlbnZlbG9wZTogcmVxdWVzdCBpZCBtaXNzaW5nIn19","request":false}`,
		},
		{
			name: "first header value, Location, handler's Content-Length replaced",
			rep: newReply("r2", 202, http.Header{
				"Content-Type": {"application/json;version=36.0"}, "Location": {"/api/task/1"},
				"Content-Length": {"999"}, "X-Multi": {"a", "b"}, "X-Empty": {},
			}, []byte(`{}`)),
			want: `{"id":"r2","statusCode":202,"headers":{"Content-Length":2,"Content-Type":"application/json;version=36.0",` +
				`"Location":"/api/task/1","X-Multi":"a"},"body":"e30=","request":false}`,
		},
		{
			name: "no body, default Content-Type",
			rep:  newReply("r3", 204, nil, nil),
			want: `{"id":"r3","statusCode":204,"headers":{"Content-Length":0,"Content-Type":"application/json"},"body":"","request":false}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.rep.marshal()
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("reply\n got %s\nwant %s", b, tt.want)
			}
		})
	}
	// The error body is CSE's, as the API answers bad input.
	rep := errorReply("r", 500, "internal error")
	if got, want := string(rep.Body), `{"message":{"minor error code":-1,"error description":"internal error"}}`; got != want {
		t.Errorf("error body %s, want %s", got, want)
	}
	if ct := rep.Headers["Content-Type"]; ct != "application/json" {
		t.Errorf("error Content-Type %v", ct)
	}
}

func TestRecorder(t *testing.T) {
	t.Run("implicit 200", func(t *testing.T) {
		w := newRecorder()
		w.Header().Set("X-A", "1")
		w.Write([]byte("hi"))
		w.Header().Set("X-Late", "ignored") // after the header was written, as in net/http
		r := w.reply("id")
		if r.StatusCode != 200 || string(r.Body) != "hi" || r.Headers["X-A"] != "1" || r.Headers["X-Late"] != nil {
			t.Errorf("reply = %+v", r)
		}
	})
	t.Run("nothing written", func(t *testing.T) {
		w := newRecorder()
		w.Header().Set("Location", "/api/task/9")
		r := w.reply("id")
		if r.StatusCode != 200 || r.Headers["Location"] != "/api/task/9" || r.Headers["Content-Length"] != 0 {
			t.Errorf("reply = %+v", r)
		}
	})
	t.Run("1xx ignored, first final code wins", func(t *testing.T) {
		w := newRecorder()
		w.WriteHeader(103)
		w.WriteHeader(202)
		w.WriteHeader(500)
		w.Flush()
		if r := w.reply("id"); r.StatusCode != 202 {
			t.Errorf("status = %d", r.StatusCode)
		}
	})
	t.Run("invalid code panics like net/http", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("no panic")
			}
		}()
		newRecorder().WriteHeader(42)
	})
}

func TestBackoff(t *testing.T) {
	base, ceiling := 100*time.Millisecond, 30*time.Second
	for attempt := range 80 {
		limit := ceiling
		if attempt < 9 {
			limit = base << attempt
		}
		for range 50 {
			if d := backoff(attempt, base, ceiling); d < 0 || d > limit {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", attempt, d, limit)
			}
		}
	}
	// Full jitter: the spread covers most of the range.
	var lo, hi time.Duration = ceiling, 0
	for range 1000 {
		d := backoff(20, base, ceiling)
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > ceiling/10 || hi < ceiling*9/10 {
		t.Errorf("backoff(20) ranged over [%v, %v]; want most of [0, %v]", lo, hi, ceiling)
	}
}

func TestConfig(t *testing.T) {
	var zero Config
	if err := zero.Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	zero.setDefaults()
	if zero.Queue != "cse" || zero.Exchange != "cse-ext" || zero.Workers != 64 || zero.HandlerTimeout != 8*time.Second {
		t.Errorf("defaults = %+v", zero)
	}

	bad := Config{
		URL: "http://user:secret@host/", Prefetch: -1, Workers: -2, ReconnectMin: time.Second, ReconnectMax: time.Millisecond,
		Exchange: strings.Repeat("x", 256),
	}
	err := bad.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"URL", "Exchange", "Prefetch", "Workers", "ReconnectMax"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q leaks the URL's password", err)
	}
	if _, err := New(bad, http.NotFoundHandler()); err == nil {
		t.Error("New accepted a bad config")
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted a nil handler")
	}
	if bad.Queue != "" {
		t.Error("Validate modified its receiver")
	}
}

// TestMessageLogMatchesWith checks that msgLog writes the lines Logger.With wrote: the same
// attributes in the same order, with the caller as the source.
func TestMessageLogMatchesWith(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		AddSource: true,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey:
				return slog.Attr{}
			case slog.SourceKey: // keep the file and function, not the line
				src := a.Value.Any().(*slog.Source)
				return slog.String(slog.SourceKey, filepath.Base(src.File)+":"+src.Function)
			}
			return a
		},
	})).With("generation", 3)

	base.With("correlation_id", "c1").Warn("bad VCD message", "reason", "x")
	base.With("correlation_id", "c1").With("request_id", "r1").Warn("reply returned unroutable", "reply_to", "q")
	want := buf.String()
	buf.Reset()
	m := msgLog{l: base, corr: "c1"}
	m.log(slog.LevelWarn, "bad VCD message", "reason", "x")
	m.req, m.hasReq = "r1", true
	m.log(slog.LevelWarn, "reply returned unroutable", "reply_to", "q")
	if got := buf.String(); got != want {
		t.Errorf("msgLog wrote\n%s\nLogger.With wrote\n%s", got, want)
	}
	if !strings.Contains(want, "internal_test.go:") {
		t.Errorf("source is not the caller: %s", want)
	}
	buf.Reset()
	m.log(slog.LevelDebug, "not at this level")
	if buf.Len() != 0 || m.enabled(slog.LevelDebug) {
		t.Errorf("debug line written at info level: %s", buf.String())
	}
}
