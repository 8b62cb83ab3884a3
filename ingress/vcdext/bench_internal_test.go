package vcdext

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"
)

// BenchmarkReplyMarshal measures turning a handler's 202 of kaas's size into the reply
// message body: the whole of it (recorder, reply, encoding into a pooled buffer, as the
// consumer does), and the encoding alone, by encoding/json as before and by appendJSON.
func BenchmarkReplyMarshal(b *testing.B) {
	body := bytes.Repeat([]byte(`{"k":"0123456789abcdef0123456789abcdef0123456789"},`), 38)
	record := func() *reply {
		w := newRecorder()
		w.Header().Set("Content-Type", "application/json;version=36.0")
		w.Header().Set("Location", "/api/task/0b7f3c1e-8d2a-4c55-9e61-3f0a2b4c5d6e")
		w.WriteHeader(202)
		w.Write(body)
		return w.reply("6f0c9a4e-1111-4b7d-9a51-000000000001")
	}
	b.Run("record+encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf := replyBufs.Get().(*[]byte)
			out, err := record().appendJSON((*buf)[:0])
			if err != nil {
				b.Fatal(err)
			}
			*buf = out
			replyBufs.Put(buf)
		}
	})
	rep := record()
	b.Run("encode/encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := json.Marshal(rep); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encode/appendJSON-pooled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf := replyBufs.Get().(*[]byte)
			out, err := rep.appendJSON((*buf)[:0])
			if err != nil {
				b.Fatal(err)
			}
			*buf = out
			replyBufs.Put(buf)
		}
	})
}

// BenchmarkDecodeConsumer measures the consumer's own way from message body to
// *http.Request: decode, whose check the request reuses, and a request that takes the
// decoded headers over instead of copying them.
func BenchmarkDecodeConsumer(b *testing.B) {
	body := []byte(`[{"id":"6f0c9a4e-1111-4b7d-9a51-000000000001","method":"POST","requestUri":"/api/cse/3.0/clusters","queryString":null,
	  "headers":{"Accept":"application/json;version=36.0","Authorization":"Bearer eyJ","Content-Type":"application/json","Host":"vcd.example.com"},
	  "body":"eyJuYW1lIjoiYzEifQ==","scheme":"https","protocol":"HTTP/1.1","request":true,"statusCode":0,
	  "localAddr":"10.0.0.5","localPort":443,"remoteAddr":"10.1.2.3","remotePort":53211},
	 {"user":"urn:vcloud:user:5d1c0f7a-9b3e-4c21-8a6d-0e2f4b7c9a11","org":"urn:vcloud:org:3a7e9c5b-1d2f-4e60-9b8a-7c4d2e1f0a22","rights":["urn:vcloud:right:r1","urn:vcloud:right:r2"]}]`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		r, t, err := decode(body)
		if err != nil {
			b.Fatal(err)
		}
		r.httpRequest(ctx, t, false)
	}
}

// BenchmarkMessageLog measures what logging costs a message that logs nothing at the
// logger's level, as on the happy path: Logger.With as before, and msgLog.
func BenchmarkMessageLog(b *testing.B) {
	for _, lc := range []struct {
		name string
		l    *slog.Logger
	}{
		{"default", defaultLogger(nil)},
		{"warn", slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})).With("generation", 1)},
	} {
		b.Run(lc.name+"/With", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				log := lc.l.With("correlation_id", "c0b7f3c1e-8d2a-4c55")
				log.Debug("request served", "request_id", "6f0c9a4e-1111", "method", "POST", "path", "/api/cse/3.0/clusters",
					"status", 202, "redelivered", false)
				log = log.With("request_id", "6f0c9a4e-1111")
				log.Debug("VCD message settled", "outcome", outcomeReplied, "duration", time.Millisecond)
			}
		})
		b.Run(lc.name+"/msgLog", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				log := msgLog{l: lc.l, corr: "c0b7f3c1e-8d2a-4c55"}
				if log.enabled(slog.LevelDebug) {
					log.log(slog.LevelDebug, "request served", "request_id", "6f0c9a4e-1111", "method", "POST", "path", "/api/cse/3.0/clusters",
						"status", 202, "redelivered", false)
				}
				log.req, log.hasReq = "6f0c9a4e-1111", true
				if log.enabled(slog.LevelDebug) {
					log.log(slog.LevelDebug, "VCD message settled", "outcome", outcomeReplied, "duration", time.Millisecond)
				}
			}
		})
	}
}

// defaultLogger is the logger a Config without one gets, with the generation attribute.
func defaultLogger(l *slog.Logger) *slog.Logger {
	cfg := Config{Logger: l}
	cfg.setDefaults()
	return cfg.Logger.With("generation", 1)
}

// BenchmarkFindRepeatedKey measures the scan for repeated keys alone, which every message
// pays before it is decoded, on the envelope of BenchmarkDecodeConsumer.
func BenchmarkFindRepeatedKey(b *testing.B) {
	body := []byte(fastSeeds[0].body)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if rep, ok := findRepeatedKey(body); !ok || rep != nil {
			b.Fatal(rep, ok)
		}
	}
}
